package wafsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/aws-sdk-go-v2/service/wafv2/types"
)

// fakeWAF is the WAFv2 API over IP sets held in memory, with WAF's
// optimistic locking: each change issues a new LockToken, and an update
// with another token fails with WAFOptimisticLockException. conflicts makes
// that many updates of a set fail as if someone else had just changed it.
type fakeWAF struct {
	mu        sync.Mutex
	sets      map[string]*fakeSet // by ID
	conflicts map[string]int      // by ID
	gets      int
	updates   []wafv2.UpdateIPSetInput
}

type fakeSet struct {
	types.IPSet
	token int
}

func newFakeWAF() *fakeWAF {
	f := &fakeWAF{sets: map[string]*fakeSet{}, conflicts: map[string]int{}}
	for _, s := range []struct {
		id      string
		version types.IPAddressVersion
	}{{"v4-id", types.IPAddressVersionIpv4}, {"v6-id", types.IPAddressVersionIpv6}} {
		f.sets[s.id] = &fakeSet{IPSet: types.IPSet{
			Id: aws.String(s.id), Name: aws.String(strings.TrimSuffix(s.id, "-id") + "-bans"), IPAddressVersion: s.version,
			Addresses: []string{}, Description: aws.String("flashsale IP bans"),
		}, token: 1}
	}
	return f
}

func (f *fakeWAF) set(tb testing.TB, in *string, name *string, scope types.Scope) *fakeSet {
	tb.Helper()
	s := f.sets[aws.ToString(in)]
	if s == nil || aws.ToString(s.Name) != aws.ToString(name) || scope != types.ScopeRegional {
		tb.Fatalf("no IP set %s/%s in scope %s", aws.ToString(name), aws.ToString(in), scope)
	}
	return s
}

type fakeAPI struct {
	*fakeWAF
	tb testing.TB
}

func (f fakeAPI) GetIPSet(_ context.Context, in *wafv2.GetIPSetInput, _ ...func(*wafv2.Options)) (*wafv2.GetIPSetOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	s := f.set(f.tb, in.Id, in.Name, in.Scope)
	cp := s.IPSet
	cp.Addresses = slices.Clone(s.Addresses)
	return &wafv2.GetIPSetOutput{IPSet: &cp, LockToken: aws.String(fmt.Sprintf("token-%d", s.token))}, nil
}

func (f fakeAPI) UpdateIPSet(_ context.Context, in *wafv2.UpdateIPSetInput, _ ...func(*wafv2.Options)) (*wafv2.UpdateIPSetOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, *in)
	s := f.set(f.tb, in.Id, in.Name, in.Scope)
	if in.Addresses == nil {
		return nil, errors.New("ValidationException: Addresses is required")
	}
	if n := f.conflicts[aws.ToString(in.Id)]; n > 0 {
		f.conflicts[aws.ToString(in.Id)] = n - 1
		s.token++ // someone else's change
	}
	if aws.ToString(in.LockToken) != fmt.Sprintf("token-%d", s.token) {
		return nil, &types.WAFOptimisticLockException{Message: aws.String("stale lock token")}
	}
	s.Addresses = slices.Clone(in.Addresses)
	s.Description = in.Description
	s.token++
	return &wafv2.UpdateIPSetOutput{NextLockToken: aws.String(fmt.Sprintf("token-%d", s.token))}, nil
}

// newSyncer returns a Syncer on a fake WAF whose sleeps return at once and
// are recorded.
func newSyncer(t *testing.T) (*Syncer, *fakeWAF, *[]time.Duration) {
	f := newFakeWAF()
	var sleeps []time.Duration
	s := &Syncer{
		API:  fakeAPI{f, t},
		IPv4: IPSet{Name: "v4-bans", ID: "v4-id", Scope: types.ScopeRegional},
		IPv6: IPSet{Name: "v6-bans", ID: "v6-id", Scope: types.ScopeRegional},
		Sleep: func(ctx context.Context, d time.Duration) error {
			sleeps = append(sleeps, d)
			return ctx.Err()
		},
	}
	return s, f, &sleeps
}

func TestSync_RetriesOptimisticLockWithAFreshToken(t *testing.T) {
	s, f, sleeps := newSyncer(t)
	f.conflicts["v4-id"] = 1 // the first UpdateIPSet meets a concurrent change
	res, err := s.Sync(t.Context(), []string{"203.0.113.7", "198.51.100.0/24", "2001:db8::1"})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	want := Result{IPv4: SetResult{Addresses: 2, Updated: true, Attempts: 2}, IPv6: SetResult{Addresses: 1, Updated: true, Attempts: 1}}
	if res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	// v4: token-1 refused (the set moved to token-2), then a fresh get and
	// token-2 accepted; v6: token-1 at once.
	var got []string
	for _, u := range f.updates {
		got = append(got, fmt.Sprintf("%s %s %v", aws.ToString(u.Name), aws.ToString(u.LockToken), u.Addresses))
	}
	wantUpdates := []string{
		"v4-bans token-1 [198.51.100.0/24 203.0.113.7/32]",
		"v4-bans token-2 [198.51.100.0/24 203.0.113.7/32]",
		"v6-bans token-1 [2001:db8::1/128]",
	}
	if !slices.Equal(got, wantUpdates) {
		t.Errorf("updates sent:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wantUpdates, "\n  "))
	}
	if f.gets != 3 {
		t.Errorf("%d GetIPSet calls, want 3 (one per update, for its token)", f.gets)
	}
	if len(*sleeps) != 1 || (*sleeps)[0] < 100*time.Millisecond || (*sleeps)[0] > 200*time.Millisecond {
		t.Errorf("slept %v, want one backoff between 100 and 200 ms", *sleeps)
	}
	for _, u := range f.updates {
		if aws.ToString(u.Description) != "flashsale IP bans" {
			t.Errorf("update of %s sent description %q; UpdateIPSet would wipe it", aws.ToString(u.Name), aws.ToString(u.Description))
		}
	}
}

func TestSync_SkipsWhenNothingChanged(t *testing.T) {
	s, f, _ := newSyncer(t)
	f.sets["v4-id"].Addresses = []string{"203.0.113.7/32", "198.51.100.0/24"}
	f.sets["v6-id"].Addresses = []string{"2001:0db8:0000:0000:0000:0000:0000:0001/128"} // WAF's long spelling
	res, err := s.Sync(t.Context(), []string{"198.51.100.0/24", "203.0.113.7", "2001:db8::1", "203.0.113.7/32"})
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if res.IPv4.Updated || res.IPv6.Updated || len(f.updates) != 0 {
		t.Errorf("result %+v with %d updates, want none: the sets already match", res, len(f.updates))
	}
}

func TestSync_EmptiesASetWithAnEmptyList(t *testing.T) {
	s, f, _ := newSyncer(t)
	f.sets["v6-id"].Addresses = []string{"2001:db8::/32"}
	if _, err := s.Sync(t.Context(), nil); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if len(f.updates) != 1 || f.updates[0].Addresses == nil || len(f.updates[0].Addresses) != 0 {
		t.Fatalf("updates %+v, want one with an empty, non-nil list", f.updates)
	}
}

func TestSync_GivesUpAfterMaxAttempts(t *testing.T) {
	s, f, sleeps := newSyncer(t)
	s.MaxAttempts = 3
	f.conflicts["v4-id"] = 100
	res, err := s.Sync(t.Context(), []string{"203.0.113.7"})
	if _, ok := errors.AsType[*types.WAFOptimisticLockException](err); !ok || !strings.Contains(err.Error(), "v4-bans") {
		t.Fatalf("Sync error %v, want a WAFOptimisticLockException naming v4-bans", err)
	}
	if res.IPv4.Attempts != 3 || len(*sleeps) != 2 {
		t.Errorf("%d attempts and %d sleeps, want 3 and 2", res.IPv4.Attempts, len(*sleeps))
	}
	// The backoff grows: 100–200 ms, then 200–400 ms.
	if d := (*sleeps)[1]; d < 200*time.Millisecond || d > 400*time.Millisecond {
		t.Errorf("second backoff %v, want 200–400 ms", d)
	}
}

func TestSync_StopsWhenTheContextEnds(t *testing.T) {
	s, f, _ := newSyncer(t)
	s.Sleep = nil // the real timer, cut short by ctx
	s.Backoff = time.Hour
	f.conflicts["v4-id"] = 1
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Sync(ctx, []string{"203.0.113.7"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Sync error %v, want context.Canceled", err)
	}
}

func TestSync_RefusesAFamilyOverTheLimit(t *testing.T) {
	s, f, _ := newSyncer(t)
	cidrs := []string{"2001:db8::1"}
	for i := range MaxAddresses + 1 {
		cidrs = append(cidrs, fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255))
	}
	res, err := s.Sync(t.Context(), cidrs)
	if !errors.Is(err, ErrTooManyAddresses) || !strings.Contains(err.Error(), "10001") {
		t.Fatalf("Sync error %v, want ErrTooManyAddresses saying 10001", err)
	}
	if len(f.sets["v4-id"].Addresses) != 0 {
		t.Errorf("the IPv4 set changed; want it left alone")
	}
	if !res.IPv6.Updated || len(f.sets["v6-id"].Addresses) != 1 {
		t.Errorf("IPv6 result %+v, want the other family synced", res.IPv6)
	}
}

func TestSync_BadCIDRChangesNothing(t *testing.T) {
	s, f, _ := newSyncer(t)
	_, err := s.Sync(t.Context(), []string{"203.0.113.7", "0.0.0.0/0"})
	if !errors.Is(err, ErrInvalidCIDR) {
		t.Fatalf("Sync error %v, want ErrInvalidCIDR", err)
	}
	if f.gets+len(f.updates) != 0 {
		t.Errorf("%d calls to WAF, want none", f.gets+len(f.updates))
	}
}

func TestNormalizeCIDR(t *testing.T) {
	tests := []struct {
		in, want string // want "" means ErrInvalidCIDR
	}{
		{"203.0.113.7", "203.0.113.7/32"},
		{" 203.0.113.7/32 ", "203.0.113.7/32"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"2001:0DB8:0000::/32", "2001:db8::/32"},
		{"::ffff:203.0.113.7", "203.0.113.7/32"},
		{"::ffff:203.0.113.0/120", "203.0.113.0/24"},
		{"0.0.0.0/0", ""},
		{"::/0", ""},
		{"::ffff:0.0.0.0/96", ""},
		{"203.0.113.7/33", ""},
		{"fe80::1%eth0", ""},
		{"example.com", ""},
		{"", ""},
	}
	for _, tc := range tests {
		p, err := NormalizeCIDR(tc.in)
		switch {
		case tc.want == "" && !errors.Is(err, ErrInvalidCIDR):
			t.Errorf("NormalizeCIDR(%q) = %v, %v; want ErrInvalidCIDR", tc.in, p, err)
		case tc.want != "" && (err != nil || p.String() != tc.want):
			t.Errorf("NormalizeCIDR(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
}
