// Package wafsync brings the WebACL's two ban IP sets (IPv4 and IPv6) into
// line with the set of banned CIDRs, the bans' source of truth being the
// store. The admin route runs it after a ban changes and a schedule runs it
// too, so bans that expired fall out.
//
// WAF offers no "add" or "remove": UpdateIPSet replaces the whole list and
// takes the LockToken of a GetIPSet, failing with WAFOptimisticLockException
// when the set changed in between. So a sync is get, compare, replace, and on
// that exception get again and retry: the SDK's own retryer does not (and
// could not: only a fresh GetIPSet gives a usable token).
package wafsync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	"github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"flashsale/shared/flashsale"
)

// MaxAddresses is WAF's limit on the entries of one IP set (a CIDR is one
// entry, whatever its size).
const MaxAddresses = 10_000

var (
	// ErrInvalidCIDR marks a CIDR or address that does not parse, has a
	// zone, or is a /0 (WAF refuses /0, and it would ban everyone).
	ErrInvalidCIDR = errors.New("invalid CIDR")
	// ErrTooManyAddresses means a family has more bans than one IP set
	// holds; that set is left as it was.
	ErrTooManyAddresses = errors.New("too many addresses for one WAF IP set")
)

// API is the part of the WAFv2 API a sync calls; *wafv2.Client implements
// it.
type API interface {
	GetIPSet(ctx context.Context, in *wafv2.GetIPSetInput, optFns ...func(*wafv2.Options)) (*wafv2.GetIPSetOutput, error)
	UpdateIPSet(ctx context.Context, in *wafv2.UpdateIPSetInput, optFns ...func(*wafv2.Options)) (*wafv2.UpdateIPSetOutput, error)
}

var _ API = (*wafv2.Client)(nil)

// IPSet names one WAF IP set.
type IPSet struct {
	Name, ID string
	// Scope is types.ScopeRegional for an API Gateway stage.
	Scope types.Scope
}

// Syncer keeps the two ban IP sets equal to a list of CIDRs.
type Syncer struct {
	API        API
	IPv4, IPv6 IPSet
	// MaxAttempts bounds the UpdateIPSet calls per set when WAF keeps
	// reporting a concurrent change; 0 means 5.
	MaxAttempts int
	// Backoff is the wait before the first retry, doubling for each next
	// one up to MaxBackoff, and jittered down to half so that two syncs
	// that collided do not collide again; 0 means 200 ms and 3 s.
	Backoff, MaxBackoff time.Duration
	// Sleep waits d unless ctx ends first (its error then); nil means a
	// timer. Tests inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// SetResult says what a sync did to one IP set.
type SetResult struct {
	// Addresses is the number of entries the set holds after the sync.
	Addresses int
	// Updated is false when the set already matched, and nothing was sent.
	Updated bool
	// Attempts counts UpdateIPSet calls (0 when nothing had to change).
	Attempts int
}

// Result says what a sync did to each set.
type Result struct {
	IPv4, IPv6 SetResult
}

// Sync makes the IPv4 set hold exactly the IPv4 CIDRs among cidrs and the
// IPv6 set the IPv6 ones (see NormalizeCIDR for the forms accepted). It
// checks every CIDR before calling WAF, so a bad one changes nothing:
// ErrInvalidCIDR. A family over MaxAddresses is refused with
// ErrTooManyAddresses and its set left alone, while the other set still
// syncs. Other errors are WAF's, or ctx's, wrapped with the set's name.
func (s *Syncer) Sync(ctx context.Context, cidrs []string) (Result, error) {
	v4, v6, err := Normalize(cidrs)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var err4, err6 error
	res.IPv4, err4 = s.syncSet(ctx, s.IPv4, types.IPAddressVersionIpv4, v4)
	res.IPv6, err6 = s.syncSet(ctx, s.IPv6, types.IPAddressVersionIpv6, v6)
	return res, errors.Join(err4, err6)
}

func (s *Syncer) syncSet(ctx context.Context, set IPSet, version types.IPAddressVersion, want []string) (SetResult, error) {
	if len(want) > MaxAddresses {
		return SetResult{}, fmt.Errorf("IP set %s: %d %s bans, over WAF's %d per set; left unchanged: %w",
			set.Name, len(want), version, MaxAddresses, ErrTooManyAddresses)
	}
	maxAttempts := s.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = 5
	}
	for attempt := 1; ; attempt++ {
		got, err := s.API.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(set.Name), Id: aws.String(set.ID), Scope: set.Scope})
		if err != nil {
			return SetResult{Attempts: attempt - 1}, fmt.Errorf("get IP set %s: %w", set.Name, err)
		}
		if got.IPSet == nil || got.LockToken == nil {
			return SetResult{Attempts: attempt - 1}, fmt.Errorf("get IP set %s: answer without IP set or lock token", set.Name)
		}
		if got.IPSet.IPAddressVersion != version {
			return SetResult{Attempts: attempt - 1}, fmt.Errorf("IP set %s holds %s addresses, want %s", set.Name, got.IPSet.IPAddressVersion, version)
		}
		// A retry re-reads: whoever changed the set may have written just
		// what we want.
		if same(got.IPSet.Addresses, want) {
			return SetResult{Addresses: len(want), Attempts: attempt - 1}, nil
		}
		_, err = s.API.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{
			Name: aws.String(set.Name), Id: aws.String(set.ID), Scope: set.Scope,
			Addresses: append([]string{}, want...), // never nil: an omitted list is a missing parameter, not "empty"
			LockToken: got.LockToken,
			// UpdateIPSet replaces every setting, the description too.
			Description: got.IPSet.Description,
		})
		if err == nil {
			return SetResult{Addresses: len(want), Updated: true, Attempts: attempt}, nil
		}
		if _, ok := errors.AsType[*types.WAFOptimisticLockException](err); !ok {
			return SetResult{Attempts: attempt}, fmt.Errorf("update IP set %s: %w", set.Name, err)
		}
		if attempt >= maxAttempts {
			return SetResult{Attempts: attempt}, fmt.Errorf("update IP set %s: changed by someone else on each of %d attempts: %w", set.Name, attempt, err)
		}
		if err := s.sleep(ctx, s.backoff(attempt)); err != nil {
			return SetResult{Attempts: attempt}, fmt.Errorf("update IP set %s: %w", set.Name, err)
		}
	}
}

// backoff is the wait after the attempt-th failed update: exponential,
// capped, with "equal jitter" (between half and all of it).
func (s *Syncer) backoff(attempt int) time.Duration {
	base, ceiling := s.Backoff, s.MaxBackoff
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	if ceiling <= 0 {
		ceiling = 3 * time.Second
	}
	d := base << min(attempt-1, 30)
	if d <= 0 || d > ceiling {
		d = ceiling
	}
	return d/2 + rand.N(d/2+1)
}

func (s *Syncer) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// same says whether an IP set's current addresses are the wanted ones,
// whatever their order and spelling (WAF may spell IPv6 differently). An
// entry that does not parse makes them differ, so the update replaces it.
func same(current, want []string) bool {
	if len(current) != len(want) {
		return false
	}
	norm := make([]string, 0, len(current))
	for _, c := range current {
		p, err := NormalizeCIDR(c)
		if err != nil {
			return false
		}
		norm = append(norm, p.String())
	}
	slices.Sort(norm)
	return slices.Equal(slices.Compact(norm), want)
}

// Normalize checks cidrs and splits them by family, each list sorted,
// without duplicates, in canonical CIDR form (NormalizeCIDR). The first bad
// entry is an ErrInvalidCIDR naming it.
func Normalize(cidrs []string) (v4, v6 []string, err error) {
	v4, v6 = []string{}, []string{}
	for _, c := range cidrs {
		p, err := NormalizeCIDR(c)
		if err != nil {
			return nil, nil, err
		}
		if p.Addr().Is4() {
			v4 = append(v4, p.String())
		} else {
			v6 = append(v6, p.String())
		}
	}
	slices.Sort(v4)
	slices.Sort(v6)
	return slices.Compact(v4), slices.Compact(v6), nil
}

// NormalizeCIDR is flashsale.ParseCIDR, the one reading of a ban's CIDR,
// with its error as an ErrInvalidCIDR.
func NormalizeCIDR(s string) (netip.Prefix, error) {
	p, err := flashsale.ParseCIDR(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q: %v: %w", s, err, ErrInvalidCIDR)
	}
	return p, nil
}
