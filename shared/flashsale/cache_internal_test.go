package flashsale

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// failingStore fails every Sale read after blocking until released, so
// several requests pile up behind the first load.
type failingStore struct {
	Store
	release chan struct{}
}

func (f failingStore) Sale(ctx context.Context, saleID string) (SaleState, error) {
	<-f.release
	return SaleState{}, errors.New("store down")
}

// TestSaleCache_FailedFirstLoadWakesWaiters: requests that wait for another
// request's first load of a sale must not hang when that load fails.
func TestSaleCache_FailedFirstLoadWakesWaiters(t *testing.T) {
	st := failingStore{release: make(chan struct{})}
	svc := NewService(st, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _, err := svc.sale(ctx, "s1")
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them queue behind the first load
	close(st.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want the load's failure (not a hang until the deadline)", err)
		}
	}
}
