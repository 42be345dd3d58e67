package flashsale_test

import (
	"context"
	"errors"
	"fmt"
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
