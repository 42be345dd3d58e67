// Package memstore implements flashsale.Store in memory, for handler tests
// and Go benchmarks. It follows the DynamoDB
// adapter's semantics item for item (shards, orders under buckets,
// idempotency records, claims); shared/flashsale/storetest holds both to the
// same contract.
//
// One mutex guards everything: each method is one short critical section, so
// every write is trivially atomic, and nothing here is hot enough for finer
// locking to pay for its complexity.
package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"flashsale/shared/flashsale"
)

type shardRef struct {
	saleID string
	shard  int
}

type keyRef struct{ userID, key string }

type claimRef struct{ saleID, userID string }

// Store is the in-memory adapter. The zero value is not usable; call New.
type Store struct {
	mu     sync.Mutex
	sales  map[string]flashsale.SaleState
	shards map[shardRef]int64
	// orders holds each sale's orders and holds by their full ref, so a
	// lookup under the wrong bucket misses, as it does in DynamoDB.
	orders map[string]map[flashsale.OrderRef]flashsale.Order
	keys   map[keyRef]flashsale.IdempotencyRecord
	claims map[claimRef]int64
	// claimOrders lists, per claim, the orders it counts.
	claimOrders map[claimRef]map[string]bool
	// userOrders lists, per claim, every order its purchases created.
	userOrders map[claimRef]map[string]bool

	// events holds every payment event ID recorded, across sales, as the
	// provider's IDs are global.
	events      map[string]bool
	ledger      map[string][]flashsale.LedgerEntry          // by sale ID; "" for unknown sales
	leases      map[string]lease                            // by sale ID
	adjustments map[string][]flashsale.Adjustment           // by sale ID, oldest first
	reports     map[string]flashsale.StoredReport           // by sale ID, the latest
	settled     map[string]map[string]flashsale.SettledSale // by day, then sale ID
	allowlists  map[string]map[string]bool                  // by sale ID, the users on it
	ipBans      map[string]flashsale.IPBan                  // by ban ID
	userBans    map[string]flashsale.UserBan                // by user ID
	reminders   map[string]map[string]*reminder             // by sale ID, then user ID
}

var _ flashsale.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		sales:  map[string]flashsale.SaleState{},
		shards: map[shardRef]int64{},
		orders: map[string]map[flashsale.OrderRef]flashsale.Order{},
		keys:   map[keyRef]flashsale.IdempotencyRecord{},
		claims: map[claimRef]int64{},

		claimOrders: map[claimRef]map[string]bool{},
		userOrders:  map[claimRef]map[string]bool{},

		events:      map[string]bool{},
		ledger:      map[string][]flashsale.LedgerEntry{},
		leases:      map[string]lease{},
		adjustments: map[string][]flashsale.Adjustment{},
		reports:     map[string]flashsale.StoredReport{},
		settled:     map[string]map[string]flashsale.SettledSale{},
		allowlists:  map[string]map[string]bool{},
		ipBans:      map[string]flashsale.IPBan{},
		userBans:    map[string]flashsale.UserBan{},
		reminders:   map[string]map[string]*reminder{},
	}
}

// PutIPBan stores an IP ban, replacing the one with its ID.
func (s *Store) PutIPBan(_ context.Context, b flashsale.IPBan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ipBans[b.ID] = b
	return nil
}

// IPBans lists the stored IP bans.
func (s *Store) IPBans(context.Context) ([]flashsale.IPBan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.ipBans)), nil
}

// DeleteIPBan deletes an IP ban.
func (s *Store) DeleteIPBan(_ context.Context, banID string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.ipBans[banID]; !ok || !now.Before(b.ExpiresAt) {
		return flashsale.ErrBanNotFound
	}
	delete(s.ipBans, banID)
	return nil
}

// PutUserBan stores a user ban, replacing the user's earlier one.
func (s *Store) PutUserBan(_ context.Context, b flashsale.UserBan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userBans[b.UserID] = b
	return nil
}

// UserBans lists the stored user bans.
func (s *Store) UserBans(context.Context) ([]flashsale.UserBan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.userBans)), nil
}

// DeleteUserBan deletes a user's ban.
func (s *Store) DeleteUserBan(_ context.Context, userID string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.userBans[userID]; !ok || !now.Before(b.ExpiresAt) {
		return flashsale.ErrBanNotFound
	}
	delete(s.userBans, userID)
	return nil
}

// AddToAllowlist puts users on a sale's allowlist.
func (s *Store) AddToAllowlist(_ context.Context, saleID string, userIDs []string) (int64, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sales[saleID]; !ok {
		return 0, 0, flashsale.ErrSaleNotFound
	}
	list := s.allowlists[saleID]
	if list == nil {
		list = map[string]bool{}
		s.allowlists[saleID] = list
	}
	added := int64(0)
	for _, u := range userIDs {
		if !list[u] {
			list[u] = true
			added++
		}
	}
	return added, int64(len(list)), nil
}

// Allowlisted reports whether a user is on a sale's allowlist.
func (s *Store) Allowlisted(_ context.Context, saleID, userID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allowlists[saleID][userID], nil
}

// CreateSale stores the sale with Loaded = Stock and preloads shard k with
// shardStock[k].
func (s *Store) CreateSale(_ context.Context, sale flashsale.Sale, shardStock []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sales[sale.ID]; ok {
		return flashsale.ErrSaleExists
	}
	s.sales[sale.ID] = flashsale.SaleState{Sale: sale, Loaded: sale.Stock}
	for k, n := range shardStock {
		s.shards[shardRef{sale.ID, k}] = n
	}
	return nil
}

// Sale reads a sale and its counters.
func (s *Store) Sale(_ context.Context, saleID string) (flashsale.SaleState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sales[saleID]
	if !ok {
		return flashsale.SaleState{}, flashsale.ErrSaleNotFound
	}
	return st, nil
}

// Available reads shards 0..sale.Shards-1; a missing shard counts as 0.
func (s *Store) Available(_ context.Context, sale flashsale.Sale) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int64, sale.Shards)
	for k := range out {
		out[k] = s.shards[shardRef{sale.ID, k}]
	}
	return out, nil
}

// TakeStock takes qty units from a shard that holds at least qty.
func (s *Store) TakeStock(_ context.Context, saleID string, shard int, qty int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := shardRef{saleID, shard}
	have, ok := s.shards[ref]
	if !ok || have < qty {
		return &flashsale.ShortError{Available: have}
	}
	s.shards[ref] = have - qty
	return nil
}

// ReturnStock adds qty units to a shard (creating it if missing), then clears
// the sale's sold-out mark and bumps its epoch. Like the DynamoDB adapter it
// returns the units even when the sale is unknown, then reports
// ErrSaleNotFound.
func (s *Store) ReturnStock(_ context.Context, saleID string, shard int, qty int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shards[shardRef{saleID, shard}] += qty
	st, ok := s.sales[saleID]
	if !ok {
		return fmt.Errorf("return stock to %s: %w", saleID, flashsale.ErrSaleNotFound)
	}
	st.SoldOut = false
	st.Epoch++
	s.sales[saleID] = st
	return nil
}

// MarkScheduled sets the sale's scheduled flag.
func (s *Store) MarkScheduled(_ context.Context, saleID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sales[saleID]
	if !ok {
		return flashsale.ErrSaleNotFound
	}
	st.Scheduled = true
	s.sales[saleID] = st
	return nil
}

// ClearSoldOut clears the sold-out mark and bumps the epoch.
func (s *Store) ClearSoldOut(_ context.Context, saleID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sales[saleID]
	if !ok {
		return flashsale.ErrSaleNotFound
	}
	st.SoldOut = false
	st.Epoch++
	s.sales[saleID] = st
	return nil
}

// MarkSoldOut sets the sold-out mark if the sale's epoch is still epoch.
func (s *Store) MarkSoldOut(_ context.Context, saleID string, epoch int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sales[saleID]
	if !ok || st.Epoch != epoch {
		return flashsale.ErrEpochChanged
	}
	st.SoldOut = true
	s.sales[saleID] = st
	return nil
}

// AddStock grows one shard and the sale's loaded count together, bumps the
// epoch and clears the sold-out mark.
func (s *Store) AddStock(_ context.Context, saleID string, shard int, qty int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sales[saleID]
	if !ok {
		return flashsale.ErrSaleNotFound
	}
	st.Loaded += qty
	st.Epoch++
	st.SoldOut = false
	s.sales[saleID] = st
	s.shards[shardRef{saleID, shard}] += qty
	return nil
}
