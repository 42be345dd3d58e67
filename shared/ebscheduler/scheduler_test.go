package ebscheduler_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"flashsale/shared/ebscheduler"
	"flashsale/shared/flashsale"
)

// wireSchedule is a CreateSchedule or UpdateSchedule body as it travels
// (REST-JSON); the name is in the path.
type wireSchedule struct {
	GroupName                  string
	Description                string
	ScheduleExpression         string
	ScheduleExpressionTimezone string
	ActionAfterCompletion      string
	State                      string
	FlexibleTimeWindow         struct{ Mode string }
	Target                     struct {
		Arn, RoleArn, Input string
		RetryPolicy         struct{ MaximumEventAgeInSeconds, MaximumRetryAttempts int }
	}
	ClientToken string
}

type call struct {
	Method, Name string
	Body         wireSchedule
}

// fakeService speaks EventBridge Scheduler's REST-JSON on loopback: POST
// /schedules/{Name} creates (409 ConflictException when the name exists),
// PUT /schedules/{Name} replaces (404 when it does not). fail, when set,
// answers the requests of its method (all, if empty) with that status and
// error type.
type fakeService struct {
	tb        testing.TB
	mu        sync.Mutex
	schedules map[string]wireSchedule
	calls     []call
	fail      struct {
		method string // "": every method
		status int
		kind   string
	}
}

func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, ok := strings.CutPrefix(r.URL.Path, "/schedules/")
	if !ok || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.tb.Errorf("unexpected request %s %s (Authorization %q)", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body wireSchedule
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		f.tb.Errorf("%s %s: body %s: %v", r.Method, name, raw, err)
	}
	f.calls = append(f.calls, call{r.Method, name, body})
	answer := func(status int, kind string, v any) {
		w.Header().Set("Content-Type", "application/json")
		if kind != "" {
			w.Header().Set("X-Amzn-Errortype", kind)
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if f.fail.status != 0 && (f.fail.method == "" || f.fail.method == r.Method) {
		answer(f.fail.status, f.fail.kind, map[string]string{"Message": "injected"})
		return
	}
	_, exists := f.schedules[name]
	switch {
	case r.Method == http.MethodPost && exists:
		answer(http.StatusConflict, "ConflictException", map[string]string{"Message": "Schedule " + name + " already exists."})
	case r.Method == http.MethodPut && !exists:
		answer(http.StatusNotFound, "ResourceNotFoundException", map[string]string{"Message": "Schedule " + name + " does not exist."})
	case r.Method == http.MethodPost || r.Method == http.MethodPut:
		f.schedules[name] = body
		answer(http.StatusOK, "", map[string]string{"ScheduleArn": "arn:aws:scheduler:us-east-1:123456789012:schedule/" + body.GroupName + "/" + name})
	default:
		f.tb.Errorf("unexpected method %s", r.Method)
		answer(http.StatusMethodNotAllowed, "ValidationException", map[string]string{"Message": "no"})
	}
}

func (f *fakeService) takeCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

const (
	group    = "flashsale-sales"
	role     = "arn:aws:iam::123456789012:role/scheduler"
	warmUp   = "arn:aws:lambda:us-east-1:123456789012:function:warm-up"
	notifier = "arn:aws:lambda:us-east-1:123456789012:function:notifier"
)

// newScheduler returns a Scheduler on the SDK's client, pointed at a
// loopback fake, and a clock the test sets.
func newScheduler(t *testing.T) (*ebscheduler.Scheduler, *fakeService, *time.Time) {
	t.Helper()
	f := &fakeService{tb: t, schedules: map[string]wireSchedule{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := scheduler.New(scheduler.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{}, // an injected 500 must come back, not be retried
	})
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s, err := ebscheduler.New(client, ebscheduler.Config{Group: group, RoleARN: role, WarmUpARN: warmUp, NotifierARN: notifier}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	return s, f, &now
}

func sale() flashsale.Sale {
	return flashsale.Sale{ID: "winter-drop", StartsAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), EndsAt: time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)}
}

func inputOf(tb testing.TB, sc flashsale.Schedule) string {
	tb.Helper()
	b, err := json.Marshal(sc)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestPut_CreatesOneTimeSchedulesThatDeleteThemselves(t *testing.T) {
	s, f, _ := newScheduler(t)
	scs := flashsale.SchedulesFor(sale(), flashsale.DefaultLead)
	if err := s.Put(t.Context(), scs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := []struct{ name, at, arn string }{
		{"winter-drop.warm-up", "at(2026-12-01T09:50:00)", warmUp},
		{"winter-drop.remind", "at(2026-12-01T09:50:00)", notifier},
		{"winter-drop.last-call", "at(2026-12-01T09:59:00)", notifier},
		{"winter-drop.cool-down", "at(2026-12-01T11:00:00)", warmUp},
	}
	calls := f.takeCalls()
	if len(calls) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(calls), len(want), calls)
	}
	for i, w := range want {
		c := calls[i]
		if c.Method != http.MethodPost || c.Name != w.name {
			t.Errorf("request %d: %s /schedules/%s, want POST /schedules/%s", i, c.Method, c.Name, w.name)
		}
		b := c.Body
		if b.ScheduleExpression != w.at || b.ScheduleExpressionTimezone != "UTC" {
			t.Errorf("%s: expression %q in %q, want %q in UTC", w.name, b.ScheduleExpression, b.ScheduleExpressionTimezone, w.at)
		}
		if b.GroupName != group || b.ActionAfterCompletion != "DELETE" || b.FlexibleTimeWindow.Mode != "OFF" || b.State != "ENABLED" {
			t.Errorf("%s: group %q, after completion %q, window %q, state %q; want %s, DELETE, OFF, ENABLED",
				w.name, b.GroupName, b.ActionAfterCompletion, b.FlexibleTimeWindow.Mode, b.State, group)
		}
		if b.Target.Arn != w.arn || b.Target.RoleArn != role {
			t.Errorf("%s: target %s as %s, want %s as %s", w.name, b.Target.Arn, b.Target.RoleArn, w.arn, role)
		}
		if got, want := b.Target.Input, inputOf(t, scs[i]); got != want {
			t.Errorf("%s: input %s, want %s", w.name, got, want)
		}
		if rp := b.Target.RetryPolicy; rp.MaximumEventAgeInSeconds != 3600 || rp.MaximumRetryAttempts != 20 {
			t.Errorf("%s: retry policy %+v, want 3600 s and 20 attempts", w.name, rp)
		}
	}
}

// TestPut_AgainReplacesByName: a re-create with a moved start time meets
// ConflictException on each name and updates it with the same fields.
func TestPut_AgainReplacesByName(t *testing.T) {
	s, f, _ := newScheduler(t)
	if err := s.Put(t.Context(), flashsale.SchedulesFor(sale(), flashsale.DefaultLead)); err != nil {
		t.Fatal(err)
	}
	f.takeCalls()
	moved := sale()
	moved.StartsAt, moved.EndsAt = moved.StartsAt.Add(time.Hour), moved.EndsAt.Add(time.Hour)
	scs := flashsale.SchedulesFor(moved, flashsale.DefaultLead)
	if err := s.Put(t.Context(), scs); err != nil {
		t.Fatalf("Put again: %v", err)
	}
	calls := f.takeCalls()
	if len(calls) != 2*len(scs) {
		t.Fatalf("%d requests, want a create and an update per schedule (%d): %+v", len(calls), 2*len(scs), calls)
	}
	for i, sc := range scs {
		create, update := calls[2*i], calls[2*i+1]
		if create.Method != http.MethodPost || update.Method != http.MethodPut || create.Name != sc.Name || update.Name != sc.Name {
			t.Errorf("schedule %s: %s %s then %s %s, want POST then PUT of it", sc.Name, create.Method, create.Name, update.Method, update.Name)
		}
		// The SDK draws a fresh idempotency token per call.
		create.Body.ClientToken, update.Body.ClientToken = "", ""
		if update.Body != create.Body {
			t.Errorf("schedule %s: update %+v differs from the create %+v", sc.Name, update.Body, create.Body)
		}
	}
	if got := f.schedules["winter-drop.warm-up"].ScheduleExpression; got != "at(2026-12-01T10:50:00)" {
		t.Errorf("warm-up now at %s, want at(2026-12-01T10:50:00)", got)
	}
	if got := f.schedules["winter-drop.cool-down"].Target.Input; got != inputOf(t, scs[3]) {
		t.Errorf("cool-down input %s, want %s", got, inputOf(t, scs[3]))
	}
}

// TestPut_PastTimeIsClamped: a sale created five minutes before it opens
// still gets its warm-up and first reminder, a minute from now.
func TestPut_PastTimeIsClamped(t *testing.T) {
	s, f, now := newScheduler(t)
	*now = time.Date(2026, 12, 1, 9, 55, 0, 500_000_000, time.UTC)
	scs := flashsale.SchedulesFor(sale(), flashsale.DefaultLead)
	if err := s.Put(t.Context(), scs); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"winter-drop.warm-up":   "at(2026-12-01T09:56:01)", // 09:56:00.5 rounded up
		"winter-drop.remind":    "at(2026-12-01T09:56:01)",
		"winter-drop.last-call": "at(2026-12-01T09:59:00)", // still ahead: untouched
		"winter-drop.cool-down": "at(2026-12-01T11:00:00)",
	}
	for i, c := range f.takeCalls() {
		if got := c.Body.ScheduleExpression; got != want[c.Name] {
			t.Errorf("%s: %s, want %s", c.Name, got, want[c.Name])
		}
		// The target still learns when the job was meant to run.
		if got := c.Body.Target.Input; got != inputOf(t, scs[i]) {
			t.Errorf("%s: input %s, want %s", c.Name, got, inputOf(t, scs[i]))
		}
	}
}

func TestPut_ServiceErrorsSurface(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		kind   string
		check  func(error) bool
	}{
		{"validation", http.StatusBadRequest, "ValidationException", func(err error) bool {
			_, ok := errors.AsType[*types.ValidationException](err)
			return ok
		}},
		{"throttled", http.StatusTooManyRequests, "ThrottlingException", func(err error) bool {
			_, ok := errors.AsType[*types.ThrottlingException](err)
			return ok
		}},
		{"internal", http.StatusInternalServerError, "InternalServerException", func(err error) bool {
			_, ok := errors.AsType[*types.InternalServerException](err)
			return ok
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, f, _ := newScheduler(t)
			f.fail.status, f.fail.kind = tc.status, tc.kind
			err := s.Put(t.Context(), flashsale.SchedulesFor(sale(), flashsale.DefaultLead))
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), "winter-drop.warm-up") {
				t.Fatalf("Put: %v, want the service's %s naming the schedule", err, tc.kind)
			}
			if n := len(f.takeCalls()); n != 1 {
				t.Errorf("%d requests, want 1: the first failure stops the put", n)
			}
		})
	}
}

// TestPut_UpdateFailureSurfaces: the name exists, and replacing it fails.
func TestPut_UpdateFailureSurfaces(t *testing.T) {
	s, f, _ := newScheduler(t)
	scs := flashsale.SchedulesFor(sale(), flashsale.DefaultLead)[:1]
	if err := s.Put(t.Context(), scs); err != nil {
		t.Fatal(err)
	}
	f.takeCalls()
	f.fail.method, f.fail.status, f.fail.kind = http.MethodPut, http.StatusInternalServerError, "InternalServerException"
	err := s.Put(t.Context(), scs)
	if _, ok := errors.AsType[*types.InternalServerException](err); !ok {
		t.Fatalf("Put: %v, want the update's InternalServerException", err)
	}
	if calls := f.takeCalls(); len(calls) != 2 || calls[1].Method != http.MethodPut {
		t.Errorf("requests %+v, want a create then an update", calls)
	}
}

func TestPut_UnknownJobSendsNothing(t *testing.T) {
	s, f, _ := newScheduler(t)
	err := s.Put(t.Context(), []flashsale.Schedule{{Name: "x.y", SaleID: "x", Job: "dance", At: sale().StartsAt}})
	if err == nil || !strings.Contains(err.Error(), "dance") {
		t.Fatalf("Put: %v, want an unknown-job error", err)
	}
	if n := len(f.takeCalls()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
}

func TestNew_RequiresEverySetting(t *testing.T) {
	full := ebscheduler.Config{Group: group, RoleARN: role, WarmUpARN: warmUp, NotifierARN: notifier}
	for _, tc := range []struct {
		name string
		edit func(*ebscheduler.Config)
	}{
		{"group", func(c *ebscheduler.Config) { c.Group = "" }},
		{"role ARN", func(c *ebscheduler.Config) { c.RoleARN = "" }},
		{"warm-up function ARN", func(c *ebscheduler.Config) { c.WarmUpARN = "" }},
		{"notifier function ARN", func(c *ebscheduler.Config) { c.NotifierARN = "" }},
	} {
		c := full
		tc.edit(&c)
		if _, err := ebscheduler.New(nil, c, nil); err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("without %s: %v, want an error naming it", tc.name, err)
		}
	}
}
