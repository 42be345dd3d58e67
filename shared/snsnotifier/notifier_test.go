package snsnotifier_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"flashsale/shared/flashsale"
	"flashsale/shared/snsnotifier"
)

const topic = "arn:aws:sns:us-east-1:123456789012:flashsale-reminders"

// published is one Publish as SNS's query protocol carries it: a form
// body with Action, Version, TopicArn, Message and the attributes as
// MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue}.
type published struct {
	TopicARN, Message string
	Attributes        map[string][2]string // name → data type, string value
}

// fakeSNS answers Publish on loopback in SNS's query protocol (form in,
// XML out). fail, when set, answers with that status and error code.
type fakeSNS struct {
	tb   testing.TB
	mu   sync.Mutex
	got  []published
	fail struct {
		status int
		code   string
	}
}

func (f *fakeSNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(raw))
	switch {
	case err != nil:
		f.tb.Errorf("body %q: %v", raw, err)
	case r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded":
		f.tb.Errorf("request %s %s (%s), want a form POST to /", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	case form.Get("Action") != "Publish" || form.Get("Version") != "2010-03-31":
		f.tb.Errorf("action %q version %q, want Publish 2010-03-31", form.Get("Action"), form.Get("Version"))
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
		f.tb.Errorf("unsigned request")
	}
	p := published{TopicARN: form.Get("TopicArn"), Message: form.Get("Message"), Attributes: map[string][2]string{}}
	for i := 1; form.Has(fmt.Sprintf("MessageAttributes.entry.%d.Name", i)); i++ {
		k := fmt.Sprintf("MessageAttributes.entry.%d.", i)
		p.Attributes[form.Get(k+"Name")] = [2]string{form.Get(k + "Value.DataType"), form.Get(k + "Value.StringValue")}
	}
	for k := range form {
		if !strings.HasPrefix(k, "MessageAttributes.entry.") && !map[string]bool{"Action": true, "Version": true, "TopicArn": true, "Message": true}[k] {
			f.tb.Errorf("unexpected parameter %s=%q", k, form.Get(k))
		}
	}
	f.got = append(f.got, p)
	w.Header().Set("Content-Type", "text/xml")
	if f.fail.status != 0 {
		w.WriteHeader(f.fail.status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>injected</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`, f.fail.code)
		return
	}
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>msg-%d</MessageId></PublishResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></PublishResponse>`, len(f.got))
}

func newNotifier(t *testing.T) (*snsnotifier.Notifier, *fakeSNS) {
	t.Helper()
	f := &fakeSNS{tb: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := sns.New(sns.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
	n, err := snsnotifier.New(client, topic)
	if err != nil {
		t.Fatal(err)
	}
	return n, f
}

var reminder = flashsale.ReminderMessage{SaleID: "winter-drop", UserID: "user-42", SaleName: "Winter drop & friends", StartsAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}

func TestNotify_PublishesTheReminderWithRoutingAttributes(t *testing.T) {
	n, f := newNotifier(t)
	if err := n.Notify(t.Context(), reminder); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if len(f.got) != 1 {
		t.Fatalf("%d publishes, want 1", len(f.got))
	}
	p := f.got[0]
	if p.TopicARN != topic {
		t.Errorf("topic %s, want %s", p.TopicARN, topic)
	}
	var body flashsale.ReminderMessage
	dec := json.NewDecoder(strings.NewReader(p.Message))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body != reminder {
		t.Errorf("message %s (%v), want the reminder's JSON %+v", p.Message, err, reminder)
	}
	want := map[string][2]string{"userId": {"String", "user-42"}, "saleId": {"String", "winter-drop"}}
	if len(p.Attributes) != len(want) || p.Attributes["userId"] != want["userId"] || p.Attributes["saleId"] != want["saleId"] {
		t.Errorf("attributes %v, want %v", p.Attributes, want)
	}
}

func TestNotify_ErrorsSurface(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		status     int
		check      func(error) bool
	}{
		{"topic gone", "NotFound", http.StatusNotFound, func(err error) bool {
			_, ok := errors.AsType[*types.NotFoundException](err)
			return ok
		}},
		{"throttled", "Throttled", http.StatusBadRequest, func(err error) bool {
			_, ok := errors.AsType[*types.ThrottledException](err)
			return ok
		}},
		{"internal", "InternalError", http.StatusInternalServerError, func(err error) bool {
			_, ok := errors.AsType[*types.InternalErrorException](err)
			return ok
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, f := newNotifier(t)
			f.fail.status, f.fail.code = tc.status, tc.code
			err := n.Notify(t.Context(), reminder)
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), "user-42") {
				t.Fatalf("Notify: %v, want SNS's %s naming the user", err, tc.code)
			}
		})
	}
}

func TestNotify_RefusesAReminderWithoutUser(t *testing.T) {
	n, f := newNotifier(t)
	m := reminder
	m.UserID = ""
	if err := n.Notify(t.Context(), m); err == nil {
		t.Fatal("Notify without a user: nil error")
	}
	if len(f.got) != 0 {
		t.Errorf("%d publishes, want none", len(f.got))
	}
}

func TestNew_RequiresATopic(t *testing.T) {
	if _, err := snsnotifier.New(nil, ""); err == nil {
		t.Fatal("New without a topic: nil error")
	}
}
