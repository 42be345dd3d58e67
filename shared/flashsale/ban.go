package flashsale

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// IPBan keeps an address or a range out of every route until it expires
// (DESIGN.md, "Perimeter (v2)"). Deployed, WAF enforces it from an IP set;
// locally the gateway does.
type IPBan struct {
	ID        string
	CIDR      netip.Prefix
	ExpiresAt time.Time
	Reason    string
}

// UserBan keeps an account from getting purchase tokens and from reserve
// until it expires.
type UserBan struct {
	UserID    string
	ExpiresAt time.Time
	Reason    string
}

// Ban limits.
const (
	MaxBanTTL       = 30 * 24 * time.Hour
	MaxBanReasonLen = 200
	// DefaultUserBanTTL is a user ban's life when the admin gives none: the
	// contract's body for user bans has no ttlSeconds, and bans, like IP
	// bans, should not outlive the month.
	DefaultUserBanTTL = MaxBanTTL
	// UserBanRefresh is how often a container rereads the user-ban list:
	// reserve checks bans against its copy, never with a per-request read.
	UserBanRefresh = 3 * time.Second
)

// Ban errors.
var (
	ErrUserBanned  = errors.New("this account is banned from purchasing")
	ErrBanNotFound = errors.New("no such ban")
)

// ParseCIDR reads a ban's address or range as the contract takes it: a
// bare address means /32 (IPv4) or /128 (IPv6); host bits are cleared
// (10.1.2.3/8 is 10.0.0.0/8); an IPv4-mapped IPv6 address or prefix
// (::ffff:a.b.c.d) is the IPv4 one, since WAF matches IPv4 clients against
// the IPv4 set. A /0 would ban every address and is refused, as are zones
// and anything that does not parse.
// Errors: *InputError (invalid_cidr).
func ParseCIDR(s string) (netip.Prefix, error) {
	bad := func(msg string) (netip.Prefix, error) {
		return netip.Prefix{}, &InputError{Code: "invalid_cidr", Field: "cidr", Message: msg}
	}
	const form = "cidr must be an IPv4 or IPv6 address or CIDR range, e.g. 203.0.113.7/32"
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return bad(form)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return bad(form)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	if p.Bits() == 0 {
		return bad("a /0 range would ban every address")
	}
	return p.Masked(), nil
}

// IPBanID names the ban of a range: the same range always gets the same
// id, so banning it again refreshes the one ban.
func IPBanID(p netip.Prefix) string {
	sum := sha256.Sum256([]byte(p.String()))
	return "ipb-" + hex.EncodeToString(sum[:8])
}

func banTTL(seconds *int64, def time.Duration) (time.Duration, error) {
	if seconds == nil {
		if def > 0 {
			return def, nil
		}
		return 0, &InputError{Code: "invalid_ttlSeconds", Field: "ttlSeconds", Message: "ttlSeconds is required"}
	}
	if *seconds < 1 || *seconds > int64(MaxBanTTL/time.Second) {
		return 0, &InputError{Code: "invalid_ttlSeconds", Field: "ttlSeconds",
			Message: fmt.Sprintf("ttlSeconds must be between 1 and %d (30 days)", int64(MaxBanTTL/time.Second))}
	}
	return time.Duration(*seconds) * time.Second, nil
}

func checkReason(reason string) error {
	if utf8.RuneCountInString(reason) > MaxBanReasonLen {
		return &InputError{Code: "invalid_reason", Field: "reason", Message: "reason must be at most 200 characters"}
	}
	return nil
}

// BanIP bans a range for ttlSeconds (required). Banning a range again
// refreshes its ban: same id, new expiry and reason.
// Errors: *InputError, ErrUnavailable.
func (s *Service) BanIP(ctx context.Context, cidr string, ttlSeconds *int64, reason string) (IPBan, error) {
	p, err := ParseCIDR(cidr)
	if err != nil {
		return IPBan{}, err
	}
	ttl, err := banTTL(ttlSeconds, 0)
	if err != nil {
		return IPBan{}, err
	}
	if err := checkReason(reason); err != nil {
		return IPBan{}, err
	}
	b := IPBan{ID: IPBanID(p), CIDR: p, ExpiresAt: s.now().Truncate(time.Second).Add(ttl), Reason: reason}
	if err := s.store.PutIPBan(ctx, b); err != nil {
		return IPBan{}, s.unavailable(err, "ban %s", p)
	}
	return b, nil
}

// IPBans lists the bans in force, by range.
// Errors: ErrUnavailable.
func (s *Service) IPBans(ctx context.Context) ([]IPBan, error) {
	all, err := s.store.IPBans(ctx)
	if err != nil {
		return nil, s.unavailable(err, "list IP bans")
	}
	now := s.now()
	live := slices.DeleteFunc(all, func(b IPBan) bool { return !now.Before(b.ExpiresAt) })
	slices.SortFunc(live, func(a, b IPBan) int { return strings.Compare(a.CIDR.String(), b.CIDR.String()) })
	return live, nil
}

// UnbanIP lifts a ban.
// Errors: ErrBanNotFound, ErrUnavailable.
func (s *Service) UnbanIP(ctx context.Context, banID string) error {
	if err := s.store.DeleteIPBan(ctx, banID, s.now()); err != nil {
		return s.unavailable(err, "unban %s", banID)
	}
	return nil
}

// BanUser bans an account for ttlSeconds (DefaultUserBanTTL when nil).
// Banning it again refreshes the ban.
// Errors: *InputError, ErrUnavailable.
func (s *Service) BanUser(ctx context.Context, userID string, ttlSeconds *int64, reason string) (UserBan, error) {
	if !ValidID(userID) {
		return UserBan{}, &InputError{Code: "invalid_userId", Field: "userId", Message: "userId must be 1-64 characters of [A-Za-z0-9_-]"}
	}
	ttl, err := banTTL(ttlSeconds, DefaultUserBanTTL)
	if err != nil {
		return UserBan{}, err
	}
	if err := checkReason(reason); err != nil {
		return UserBan{}, err
	}
	b := UserBan{UserID: userID, ExpiresAt: s.now().Truncate(time.Second).Add(ttl), Reason: reason}
	if err := s.store.PutUserBan(ctx, b); err != nil {
		return UserBan{}, s.unavailable(err, "ban user %s", userID)
	}
	s.banCache.forget() // this container sees its own ban at once
	return b, nil
}

// UserBans lists the user bans in force, by user.
// Errors: ErrUnavailable.
func (s *Service) UserBans(ctx context.Context) ([]UserBan, error) {
	all, err := s.store.UserBans(ctx)
	if err != nil {
		return nil, s.unavailable(err, "list user bans")
	}
	now := s.now()
	live := slices.DeleteFunc(all, func(b UserBan) bool { return !now.Before(b.ExpiresAt) })
	slices.SortFunc(live, func(a, b UserBan) int { return strings.Compare(a.UserID, b.UserID) })
	return live, nil
}

// UnbanUser lifts a user ban.
// Errors: ErrBanNotFound, ErrUnavailable.
func (s *Service) UnbanUser(ctx context.Context, userID string) error {
	if err := s.store.DeleteUserBan(ctx, userID, s.now()); err != nil {
		return s.unavailable(err, "unban user %s", userID)
	}
	s.banCache.forget()
	return nil
}

// CheckUserBan answers ErrUserBanned for a banned account. It reads this
// container's copy of the ban list, refreshed at most every UserBanRefresh
// by one caller while the others keep using the old copy: reserve never
// makes a store call per request for it. A failed refresh keeps the old
// copy until the next period; with no copy at all (a cold container whose
// first read failed) it answers ErrUnavailable rather than let a banned
// buyer through.
func (s *Service) CheckUserBan(ctx context.Context, userID string) error {
	now := s.now()
	list := s.banCache.current()
	if list == nil || now.Sub(list.fetchedAt) >= UserBanRefresh {
		var err error
		if list, err = s.banCache.refresh(ctx, s, now); err != nil {
			return err
		}
	}
	if exp, banned := list.users[userID]; banned && now.Before(exp) {
		return ErrUserBanned
	}
	return nil
}

// userBanList is one container's copy of the user bans, replaced whole on
// each refresh and read without a lock.
type userBanList struct {
	users     map[string]time.Time // expiry by user
	fetchedAt time.Time
}

type userBanCache struct {
	list atomic.Pointer[userBanList]
	// gen counts forget calls: a refresh that read the store before a ban
	// was written here must not store that older list over the forget.
	gen atomic.Int64
	mu  sync.Mutex // one refresh at a time
}

func (c *userBanCache) current() *userBanList { return c.list.Load() }

func (c *userBanCache) forget() {
	c.gen.Add(1)
	c.list.Store(nil)
}

// userBanReadTimeout bounds a refresh's read, which runs on a context of
// its own: a buyer who hangs up must not fail the refresh for everyone.
const userBanReadTimeout = 2 * time.Second

func (c *userBanCache) refresh(ctx context.Context, s *Service, now time.Time) (*userBanList, error) {
	if !c.mu.TryLock() {
		if l := c.list.Load(); l != nil {
			return l, nil // someone else is refreshing: use the old copy
		}
		c.mu.Lock() // no copy yet: wait for the first load
	}
	defer c.mu.Unlock()
	if l := c.list.Load(); l != nil && now.Sub(l.fetchedAt) < UserBanRefresh {
		return l, nil
	}
	gen := c.gen.Load()
	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), userBanReadTimeout)
	defer cancel()
	bans, err := s.store.UserBans(readCtx)
	old := c.list.Load()
	if err != nil {
		if old == nil {
			return nil, s.unavailable(err, "read user bans")
		}
		s.log.ErrorContext(ctx, "user bans not refreshed; keeping the last list", "err", err)
		next := &userBanList{users: old.users, fetchedAt: now}
		c.list.Store(next)
		return next, nil
	}
	next := &userBanList{users: make(map[string]time.Time, len(bans)), fetchedAt: now}
	for _, b := range bans {
		next.users[b.UserID] = b.ExpiresAt
	}
	if c.gen.Load() == gen {
		c.list.Store(next)
	}
	return next, nil
}
