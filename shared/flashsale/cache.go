package flashsale

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// saleEntry is one container's view of a sale. It lets the burst's losers be
// answered from memory: the sold-out mark is rechecked about once per cache
// TTL, never per request.
type saleEntry struct {
	mu         sync.Mutex
	loaded     bool
	refreshing bool
	ready      chan struct{} // closed when the first load finishes
	state      SaleState
	err        error // ErrSaleNotFound is cached like a value
	fetchedAt  time.Time

	// short holds, for the current epoch, what a failed take saw in a shard.
	// Stock only comes back with an epoch bump, so these stay true until then.
	short        map[int]int64
	soldOutLocal bool

	remaining   int64
	remainingAt time.Time
}

// sale returns the cached state of a sale, refreshing it when older than the
// TTL. While one caller refreshes, the others keep using the old view.
func (s *Service) sale(ctx context.Context, saleID string) (SaleState, *saleEntry, error) {
	s.salesMu.Lock()
	e, ok := s.sales[saleID]
	if !ok {
		e = &saleEntry{ready: make(chan struct{})}
		s.sales[saleID] = e
	}
	s.salesMu.Unlock()

	now := s.now()
	e.mu.Lock()
	fresh := e.loaded && now.Sub(e.fetchedAt) < s.cacheTTL
	if fresh || e.refreshing {
		loaded, ready := e.loaded, e.ready
		st, err := e.state, e.err
		e.mu.Unlock()
		if loaded {
			return st, e, err
		}
		select { // first load in progress elsewhere
		case <-ready:
			e.mu.Lock()
			defer e.mu.Unlock()
			if !e.loaded { // that load failed; so does this request
				return SaleState{}, e, fmt.Errorf("read sale %s: first load failed", saleID)
			}
			return e.state, e, e.err
		case <-ctx.Done():
			return SaleState{}, e, ctx.Err()
		}
	}
	e.refreshing = true
	e.mu.Unlock()

	st, err := s.store.Sale(ctx, saleID)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refreshing = false
	if err != nil && !errors.Is(err, ErrSaleNotFound) {
		if e.loaded {
			// Keep serving the last good view, and count the failed read
			// as this TTL's recheck: retrying on every request would push
			// a burst's load onto a store that is already failing.
			e.fetchedAt = s.now()
			return e.state, e, e.err
		}
		// Wake whoever waited for this first load, and let the next
		// request try again.
		close(e.ready)
		e.ready = make(chan struct{})
		return SaleState{}, e, err
	}
	if err == nil && st.Epoch != e.state.Epoch {
		e.short = nil
		e.soldOutLocal = false
	}
	e.state, e.err, e.fetchedAt = st, err, s.now()
	if !e.loaded {
		e.loaded = true
		close(e.ready)
	}
	return st, e, err
}

// forget drops the cached view so the next call reads the store, e.g. after
// this process changed the sale.
func (s *Service) forget(saleID string) {
	s.salesMu.Lock()
	delete(s.sales, saleID)
	s.salesMu.Unlock()
}

func (e *saleEntry) soldOut() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.SoldOut || e.soldOutLocal
}

// knownShort reports whether shard k is known to hold fewer than qty units in
// epoch, and how many it held.
func (e *saleEntry) knownShort(k int, qty, epoch int64) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Epoch != epoch || e.short == nil {
		return 0, false
	}
	avail, ok := e.short[k]
	return avail, ok && avail < qty
}

func (e *saleEntry) noteShort(k int, avail, epoch int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Epoch != epoch {
		return
	}
	if e.short == nil {
		e.short = map[int]int64{}
	}
	e.short[k] = avail
}

func (e *saleEntry) noteSoldOut(epoch int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Epoch == epoch {
		e.soldOutLocal = true
	}
}
