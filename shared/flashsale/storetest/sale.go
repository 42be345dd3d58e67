package storetest

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

func (s *suite) testCreateSale(t *testing.T) {
	e := s.newEnv(t, 4, 3, 3)

	got := e.state(e.sale.ID)
	want := flashsale.SaleState{Sale: e.sale, Loaded: 10}
	if !sameSale(got, want) {
		t.Errorf("Sale after CreateSale:\n got  %+v\n want %+v", got, want)
	}
	e.wantAvailable(e.sale, 4, 3, 3)

	t.Run("duplicate", func(t *testing.T) {
		other := e.sale
		other.Name, other.Stock, other.Shards = "Impostor", 99, 1
		err := e.st.CreateSale(e.ctx, other, []int64{99})
		checkErr(t, "second CreateSale", err, flashsale.ErrSaleExists)
		if got := e.state(e.sale.ID); !sameSale(got, want) {
			t.Errorf("Sale after a failed CreateSale:\n got  %+v\n want %+v (unchanged)", got, want)
		}
		e.wantAvailable(e.sale, 4, 3, 3)
	})

	t.Run("unknown sale", func(t *testing.T) {
		_, err := e.st.Sale(e.ctx, s.id("nosuchsale"))
		checkErr(t, "Sale(unknown)", err, flashsale.ErrSaleNotFound)
	})
}

// sameSale compares sale states, times by instant.
func sameSale(a, b flashsale.SaleState) bool {
	a.StartsAt, a.EndsAt = a.StartsAt.UTC(), a.EndsAt.UTC()
	b.StartsAt, b.EndsAt = b.StartsAt.UTC(), b.EndsAt.UTC()
	return reflect.DeepEqual(a, b)
}

func (s *suite) testAllowlist(t *testing.T) {
	e := s.newEnv(t, 1)
	other := e.createSale(1, 1)
	ids := make([]string, 130) // over one BatchGetItem (100) and several BatchWriteItems (25)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%03d", i)
	}
	added, total, err := e.st.AddToAllowlist(e.ctx, e.sale.ID, ids[:70])
	if err != nil || added != 70 || total != 70 {
		t.Fatalf("first import: added %d, total %d, err %v; want 70, 70, nil", added, total, err)
	}
	added, total, err = e.st.AddToAllowlist(e.ctx, e.sale.ID, ids)
	if err != nil || added != 60 || total != 130 {
		t.Fatalf("overlapping import: added %d, total %d, err %v; want 60, 130, nil", added, total, err)
	}
	added, total, err = e.st.AddToAllowlist(e.ctx, e.sale.ID, ids)
	if err != nil || added != 0 || total != 130 {
		t.Fatalf("same import again: added %d, total %d, err %v; want 0, 130, nil (harmless)", added, total, err)
	}
	for _, tc := range []struct {
		sale, user string
		want       bool
	}{
		{e.sale.ID, "user-000", true}, {e.sale.ID, "user-129", true},
		{e.sale.ID, "user-130", false}, {other.ID, "user-000", false},
	} {
		got, err := e.st.Allowlisted(e.ctx, tc.sale, tc.user)
		if err != nil || got != tc.want {
			t.Errorf("Allowlisted(%s, %s) = %v, %v; want %v", tc.sale, tc.user, got, err, tc.want)
		}
	}
	_, _, err = e.st.AddToAllowlist(e.ctx, s.id("nosuchsale"), ids[:1])
	checkErr(t, "AddToAllowlist(unknown sale)", err, flashsale.ErrSaleNotFound)
}

func (s *suite) testAvailable(t *testing.T) {
	tests := []struct {
		name       string
		shards     int
		shardStock []int64
		want       []int64
	}{
		{name: "one shard", shards: 1, shardStock: []int64{7}, want: []int64{7}},
		{name: "many shards", shards: 3, shardStock: []int64{1, 0, 2}, want: []int64{1, 0, 2}},
		{name: "missing shard counts as 0", shards: 3, shardStock: []int64{5, 4}, want: []int64{5, 4, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 1)
			sale := e.createSale(tc.shards, tc.shardStock...)
			e.wantAvailable(sale, tc.want...)
		})
	}
	t.Run("unknown sale", func(t *testing.T) {
		e := s.newEnv(t, 1)
		e.wantAvailable(flashsale.Sale{ID: s.id("nosuchsale"), Shards: 2}, 0, 0)
	})
}

func (s *suite) testTakeStock(t *testing.T) {
	tests := []struct {
		name      string
		shard     int
		qty       int64
		wantShort int64 // -1: the take succeeds
		wantAfter []int64
	}{
		{name: "some of a shard", shard: 0, qty: 2, wantShort: -1, wantAfter: []int64{3, 1, 0}},
		{name: "all of a shard", shard: 1, qty: 1, wantShort: -1, wantAfter: []int64{5, 0, 0}},
		{name: "more than a shard holds", shard: 0, qty: 6, wantShort: 5, wantAfter: []int64{5, 1, 0}},
		{name: "empty shard", shard: 2, qty: 1, wantShort: 0, wantAfter: []int64{5, 1, 0}},
		{name: "missing shard", shard: 3, qty: 1, wantShort: 0, wantAfter: []int64{5, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 5, 1, 0)
			err := e.st.TakeStock(e.ctx, e.sale.ID, tc.shard, tc.qty)
			what := fmt.Sprintf("TakeStock(shard %d, %d)", tc.shard, tc.qty)
			if tc.wantShort < 0 {
				checkErr(t, what, err, nil)
			} else {
				var short *flashsale.ShortError
				if !errors.As(err, &short) || !errors.Is(err, flashsale.ErrShardShort) {
					t.Fatalf("%s: got error %v, want a *ShortError (ErrShardShort)", what, err)
				}
				if short.Available != tc.wantShort {
					t.Errorf("%s: ShortError.Available = %d, want %d", what, short.Available, tc.wantShort)
				}
			}
			e.wantAvailable(e.sale, tc.wantAfter...)
		})
	}
}

func (s *suite) testTakeStockConcurrent(t *testing.T) {
	const buyers, units = 200, 37
	e := s.newEnv(t, units, 5)
	errs := race(buyers, func(int) error { return e.st.TakeStock(e.ctx, e.sale.ID, 0, 1) })
	ok, short := tally(t, "TakeStock", errs, flashsale.ErrShardShort)
	if ok != units || short != buyers-units {
		t.Errorf("%d concurrent takes of 1 from %d units: %d succeeded, %d short; want %d and %d",
			buyers, units, ok, short, units, buyers-units)
	}
	e.wantAvailable(e.sale, 0, 5)
}

func (s *suite) testReturnStock(t *testing.T) {
	t.Run("existing shard", func(t *testing.T) {
		e := s.newEnv(t, 3, 3)
		if err := e.st.MarkSoldOut(e.ctx, e.sale.ID, 0); err != nil {
			t.Fatalf("MarkSoldOut: got error %v, want nil", err)
		}
		checkErr(t, "ReturnStock", e.st.ReturnStock(e.ctx, e.sale.ID, 1, 2), nil)
		e.wantAvailable(e.sale, 3, 5)
		st := e.state(e.sale.ID)
		if st.SoldOut || st.Epoch != 1 || st.Loaded != 6 {
			t.Errorf("after ReturnStock: SoldOut=%v Epoch=%d Loaded=%d, want false, 1, 6", st.SoldOut, st.Epoch, st.Loaded)
		}
	})
	t.Run("missing shard is created", func(t *testing.T) {
		e := s.newEnv(t, 3)
		sale := e.createSale(2, 3) // shard 1 never written
		checkErr(t, "ReturnStock", e.st.ReturnStock(e.ctx, sale.ID, 1, 2), nil)
		e.wantAvailable(sale, 3, 2)
		checkErr(t, "TakeStock from the returned units", e.st.TakeStock(e.ctx, sale.ID, 1, 2), nil)
	})
	t.Run("each return bumps the epoch", func(t *testing.T) {
		e := s.newEnv(t, 1)
		for range 3 {
			checkErr(t, "ReturnStock", e.st.ReturnStock(e.ctx, e.sale.ID, 0, 1), nil)
		}
		if st := e.state(e.sale.ID); st.Epoch != 3 {
			t.Errorf("Epoch after 3 returns = %d, want 3", st.Epoch)
		}
		e.wantAvailable(e.sale, 4)
	})
}

func (s *suite) testMarkSoldOut(t *testing.T) {
	tests := []struct {
		name        string
		returns     int   // ReturnStock calls before the mark
		epoch       int64 // what MarkSoldOut is given
		wantErr     error
		wantSoldOut bool
	}{
		{name: "current epoch", epoch: 0, wantSoldOut: true},
		{name: "current epoch after returns", returns: 2, epoch: 2, wantSoldOut: true},
		{name: "stale epoch", returns: 1, epoch: 0, wantErr: flashsale.ErrEpochChanged},
		{name: "future epoch", epoch: 1, wantErr: flashsale.ErrEpochChanged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 0)
			for range tc.returns {
				checkErr(t, "ReturnStock", e.st.ReturnStock(e.ctx, e.sale.ID, 0, 1), nil)
			}
			checkErr(t, fmt.Sprintf("MarkSoldOut(epoch %d)", tc.epoch), e.st.MarkSoldOut(e.ctx, e.sale.ID, tc.epoch), tc.wantErr)
			st := e.state(e.sale.ID)
			if st.SoldOut != tc.wantSoldOut || st.Epoch != int64(tc.returns) {
				t.Errorf("after MarkSoldOut: SoldOut=%v Epoch=%d, want %v, %d", st.SoldOut, st.Epoch, tc.wantSoldOut, tc.returns)
			}
		})
	}
	t.Run("a return clears the mark", func(t *testing.T) {
		e := s.newEnv(t, 0)
		checkErr(t, "MarkSoldOut", e.st.MarkSoldOut(e.ctx, e.sale.ID, 0), nil)
		checkErr(t, "ReturnStock", e.st.ReturnStock(e.ctx, e.sale.ID, 0, 1), nil)
		if st := e.state(e.sale.ID); st.SoldOut {
			t.Errorf("SoldOut after ReturnStock = true, want false")
		}
	})
}

func (s *suite) testAddStock(t *testing.T) {
	t.Run("existing shard", func(t *testing.T) {
		e := s.newEnv(t, 2, 0)
		checkErr(t, "MarkSoldOut", e.st.MarkSoldOut(e.ctx, e.sale.ID, 0), nil)
		checkErr(t, "AddStock", e.st.AddStock(e.ctx, e.sale.ID, 1, 5), nil)
		e.wantAvailable(e.sale, 2, 5)
		got := e.state(e.sale.ID)
		want := flashsale.SaleState{Sale: e.sale, Loaded: 7, Epoch: 1}
		if !sameSale(got, want) {
			t.Errorf("Sale after AddStock:\n got  %+v\n want %+v", got, want)
		}
	})
	t.Run("missing shard is created", func(t *testing.T) {
		e := s.newEnv(t, 1)
		sale := e.createSale(2, 1)
		checkErr(t, "AddStock", e.st.AddStock(e.ctx, sale.ID, 1, 3), nil)
		e.wantAvailable(sale, 1, 3)
		if st := e.state(sale.ID); st.Loaded != 4 {
			t.Errorf("Loaded = %d, want 4", st.Loaded)
		}
	})
	t.Run("unknown sale changes nothing", func(t *testing.T) {
		e := s.newEnv(t, 1)
		ghost := flashsale.Sale{ID: s.id("nosuchsale"), Shards: 1}
		checkErr(t, "AddStock(unknown)", e.st.AddStock(e.ctx, ghost.ID, 0, 3), flashsale.ErrSaleNotFound)
		e.wantAvailable(ghost, 0)
		if _, err := e.st.Sale(e.ctx, ghost.ID); !errors.Is(err, flashsale.ErrSaleNotFound) {
			t.Errorf("Sale(unknown) after AddStock: got error %v, want ErrSaleNotFound", err)
		}
	})
}

func (s *suite) testBans(t *testing.T) {
	e := s.newEnv(t, 1)
	v4, v6 := netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/48")
	b4 := flashsale.IPBan{ID: flashsale.IPBanID(v4), CIDR: v4, ExpiresAt: t0.Add(time.Hour), Reason: "bot"}
	b6 := flashsale.IPBan{ID: flashsale.IPBanID(v6), CIDR: v6, ExpiresAt: t0.Add(time.Minute)}
	for _, b := range []flashsale.IPBan{b4, b6} {
		if err := e.st.PutIPBan(e.ctx, b); err != nil {
			t.Fatalf("PutIPBan(%s): %v", b.CIDR, err)
		}
	}
	refreshed := b4
	refreshed.ExpiresAt, refreshed.Reason = t0.Add(2*time.Hour), "still a bot"
	if err := e.st.PutIPBan(e.ctx, refreshed); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.IPBans(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b flashsale.IPBan) int { return strings.Compare(a.ID, b.ID) })
	want := []flashsale.IPBan{refreshed, b6}
	slices.SortFunc(want, func(a, b flashsale.IPBan) int { return strings.Compare(a.ID, b.ID) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("IPBans after a refresh:\n got  %+v\n want %+v (one ban per range)", got, want)
	}
	checkErr(t, "DeleteIPBan of an expired ban", e.st.DeleteIPBan(e.ctx, b6.ID, b6.ExpiresAt), flashsale.ErrBanNotFound)
	if err := e.st.DeleteIPBan(e.ctx, b6.ID, t0); err != nil {
		t.Fatalf("DeleteIPBan: %v", err)
	}
	checkErr(t, "DeleteIPBan again", e.st.DeleteIPBan(e.ctx, b6.ID, t0), flashsale.ErrBanNotFound)

	u := flashsale.UserBan{UserID: "mallory", ExpiresAt: t0.Add(time.Hour), Reason: "scalper"}
	if err := e.st.PutUserBan(e.ctx, u); err != nil {
		t.Fatal(err)
	}
	users, err := e.st.UserBans(e.ctx)
	if err != nil || !reflect.DeepEqual(users, []flashsale.UserBan{u}) {
		t.Errorf("UserBans = %+v, %v; want [%+v]", users, err, u)
	}
	checkErr(t, "DeleteUserBan of an expired ban", e.st.DeleteUserBan(e.ctx, "mallory", u.ExpiresAt), flashsale.ErrBanNotFound)
	if err := e.st.DeleteUserBan(e.ctx, "mallory", t0); err != nil {
		t.Fatal(err)
	}
	checkErr(t, "DeleteUserBan again", e.st.DeleteUserBan(e.ctx, "mallory", t0), flashsale.ErrBanNotFound)
	if users, _ := e.st.UserBans(e.ctx); len(users) != 0 {
		t.Errorf("UserBans after delete = %+v, want none", users)
	}
}
