package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"flashsale/shared/flashsale"
)

// lease is a sale's settlement lease.
type lease struct {
	owner string
	until time.Time
}

// ListSales returns every sale, ordered by ID.
func (s *Store) ListSales(_ context.Context) ([]flashsale.SaleState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]flashsale.SaleState, 0, len(s.sales))
	for _, st := range s.sales {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b flashsale.SaleState) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// AcquireLease gives owner the lease until until when there is none, the
// current one ended at or before now, or owner already holds it (then it
// is extended, or shortened, to until).
func (s *Store) AcquireLease(_ context.Context, saleID, owner string, now, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sales[saleID]; !ok {
		return fmt.Errorf("acquire lease on %s: %w", saleID, flashsale.ErrSaleNotFound)
	}
	if l, ok := s.leases[saleID]; ok && l.owner != owner && l.until.After(now) {
		return flashsale.ErrLeaseHeld
	}
	s.leases[saleID] = lease{owner: owner, until: until}
	return nil
}

// ReleaseLease ends owner's lease; anyone else's stays.
func (s *Store) ReleaseLease(_ context.Context, saleID, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[saleID]; ok && l.owner == owner {
		delete(s.leases, saleID)
	}
	return nil
}

// RepairLeak returns units to a shard (creating it if missing), clears the
// sold-out mark, bumps the epoch and records adj, or does nothing for an
// unknown sale.
func (s *Store) RepairLeak(_ context.Context, saleID string, shard int, units int64, adj flashsale.Adjustment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.sales[saleID]
	if !ok {
		return fmt.Errorf("repair leak in %s: %w", saleID, flashsale.ErrSaleNotFound)
	}
	s.shards[shardRef{saleID, shard}] += units
	st.SoldOut = false
	st.Epoch++
	s.sales[saleID] = st
	s.adjustments[saleID] = append(s.adjustments[saleID], adj)
	return nil
}

// AddAdjustment appends adj to the sale's adjustments.
func (s *Store) AddAdjustment(_ context.Context, saleID string, adj flashsale.Adjustment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adjustments[saleID] = append(s.adjustments[saleID], adj)
	return nil
}

// Adjustments returns a copy of the sale's adjustments, oldest first.
func (s *Store) Adjustments(_ context.Context, saleID string) ([]flashsale.Adjustment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.adjustments[saleID]), nil
}

// SaveReport stores a copy of r as its sale's latest report.
func (s *Store) SaveReport(_ context.Context, r flashsale.StoredReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Report = copyReport(r.Report)
	s.reports[r.SaleID] = r
	return nil
}

// Report returns a copy of the sale's latest report.
func (s *Store) Report(_ context.Context, saleID string) (flashsale.StoredReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reports[saleID]
	if !ok {
		return flashsale.StoredReport{}, flashsale.ErrNotSettled
	}
	r.Report = copyReport(r.Report)
	return r, nil
}

// RecordSettled keeps the line as its sale's for its day.
func (s *Store) RecordSettled(_ context.Context, l flashsale.SettledSale) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.settled[l.Day] == nil {
		s.settled[l.Day] = map[string]flashsale.SettledSale{}
	}
	s.settled[l.Day][l.SaleID] = l
	return nil
}

// SettledBetween returns the lines of the days from first to last.
func (s *Store) SettledBetween(_ context.Context, first, last time.Time) ([]flashsale.SettledSale, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flashsale.SettledSale
	for d := first.UTC(); !d.After(last); d = d.AddDate(0, 0, 1) {
		for _, l := range s.settled[d.Format(flashsale.DayLayout)] {
			out = append(out, l)
		}
	}
	return out, nil
}

// copyReport clones the report's lists so no caller shares the stored ones.
// slices.Clone keeps a nil list nil and an empty one empty, so the JSON
// ("null" or "[]") round-trips too.
func copyReport(r flashsale.Report) flashsale.Report {
	r.Adjustments = slices.Clone(r.Adjustments)
	r.Refunds = slices.Clone(r.Refunds)
	r.Orders = slices.Clone(r.Orders)
	return r
}
