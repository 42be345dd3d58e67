package flashsale_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// TestCheckUserBan_NoStoreCallPerRequest: a container reads the ban list
// once per UserBanRefresh, whatever the request rate, and sees a ban made
// by another container within that period.
func TestCheckUserBan_NoStoreCallPerRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.newService() // another Lambda container on the same store
	if _, err := other.BanUser(ctx, "mallory", nil, "scalper"); err != nil {
		t.Fatal(err)
	}
	e.store.Calls()
	for i := range 5000 {
		err := e.svc.CheckUserBan(ctx, fmt.Sprintf("buyer-%d", i%50))
		if err != nil {
			t.Fatalf("buyer-%d: %v, want no ban", i%50, err)
		}
	}
	if !errors.Is(e.svc.CheckUserBan(ctx, "mallory"), flashsale.ErrUserBanned) {
		t.Fatal("mallory is not banned")
	}
	if got := e.store.Calls()["UserBans"]; got != 1 {
		t.Fatalf("5,001 checks read the ban list %d times, want once", got)
	}

	if _, err := other.BanUser(ctx, "eve", nil, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(flashsale.UserBanRefresh - time.Millisecond)
	if err := e.svc.CheckUserBan(ctx, "eve"); err != nil {
		t.Fatalf("before the refresh: %v (the copy is not due yet)", err)
	}
	e.clock.Advance(time.Millisecond)
	if !errors.Is(e.svc.CheckUserBan(ctx, "eve"), flashsale.ErrUserBanned) {
		t.Fatal("after the refresh period, another container's ban is not seen")
	}
	if err := other.UnbanUser(ctx, "mallory"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(flashsale.UserBanRefresh)
	if err := e.svc.CheckUserBan(ctx, "mallory"); err != nil {
		t.Fatalf("after the unban and a refresh: %v", err)
	}
	if got := e.store.Calls()["UserBans"]; got != 2 {
		t.Errorf("two refresh periods made %d reads, want 2", got)
	}
	// An expired ban stops applying at its expiry, even between refreshes.
	ttl := int64(2)
	if _, err := e.svc.BanUser(ctx, "brief", &ttl, ""); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(e.svc.CheckUserBan(ctx, "brief"), flashsale.ErrUserBanned) {
		t.Fatal("a fresh ban does not apply in its own container at once")
	}
	e.clock.Advance(2 * time.Second)
	if err := e.svc.CheckUserBan(ctx, "brief"); err != nil {
		t.Fatalf("after its expiry: %v", err)
	}
}

// failingBans is a store whose user-ban list cannot be read.
type failingBans struct{ flashsale.Store }

func (failingBans) UserBans(context.Context) ([]flashsale.UserBan, error) {
	return nil, errors.New("injected: the ban list is unreadable")
}

// TestCheckUserBan_FailsClosedWithoutACopy: a container that has never read
// the ban list answers ErrUnavailable rather than let everyone through; one
// that has a copy keeps using it when a refresh fails.
func TestCheckUserBan_FailsClosedWithoutACopy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.BanUser(ctx, "mallory", nil, ""); err != nil {
		t.Fatal(err)
	}
	cold := flashsale.NewService(failingBans{e.mem}, nil, flashsale.WithClock(e.clock.Now))
	if err := cold.CheckUserBan(ctx, "mallory"); !errors.Is(err, flashsale.ErrUnavailable) {
		t.Fatalf("cold container, unreadable list: %v, want ErrUnavailable", err)
	}
	if err := cold.CheckUserBan(ctx, "alice"); !errors.Is(err, flashsale.ErrUnavailable) {
		t.Fatalf("cold container, another user: %v, want ErrUnavailable (not a pass)", err)
	}
	warm := &switchable{Store: e.mem}
	svc := flashsale.NewService(warm, nil, flashsale.WithClock(e.clock.Now))
	if !errors.Is(svc.CheckUserBan(ctx, "mallory"), flashsale.ErrUserBanned) {
		t.Fatal("warm container does not see the ban")
	}
	warm.fail.Store(true)
	e.clock.Advance(flashsale.UserBanRefresh)
	if !errors.Is(svc.CheckUserBan(ctx, "mallory"), flashsale.ErrUserBanned) {
		t.Fatal("after a failed refresh the last copy is not used")
	}
}

type switchable struct {
	flashsale.Store
	fail atomic.Bool
}

func (s *switchable) UserBans(ctx context.Context) ([]flashsale.UserBan, error) {
	if s.fail.Load() {
		return nil, errors.New("injected")
	}
	return s.Store.UserBans(ctx)
}
