package memstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"flashsale/shared/flashsale"
	"flashsale/shared/flashsale/storetest"
	"flashsale/shared/memstore"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(testing.TB) flashsale.Store { return memstore.New() })
}

// TestStore_Shared runs the contract on one store shared by every subtest,
// as the DynamoDB adapter's tables are, to prove the suite isolates them.
func TestStore_Shared(t *testing.T) {
	st := memstore.New()
	storetest.Run(t, func(testing.TB) flashsale.Store { return st })
}

func TestQueue(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		sent []string // order IDs, in order; the body is "body-<id>"
		want []string
	}{
		{name: "empty", want: []string{}},
		{name: "distinct orders", sent: []string{"a", "b", "c"}, want: []string{"body-a", "body-b", "body-c"}},
		{name: "duplicates dropped", sent: []string{"a", "b", "a", "a", "b"}, want: []string{"body-a", "body-b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := memstore.NewQueue()
			for _, id := range tc.sent {
				if err := q.Enqueue(ctx, id, "user", []byte("body-"+id)); err != nil {
					t.Fatalf("Enqueue(%s): got error %v, want nil", id, err)
				}
			}
			got := q.Messages()
			if q.Len() != len(tc.want) || len(got) != len(tc.want) {
				t.Fatalf("Len() = %d, len(Messages()) = %d, want %d", q.Len(), len(got), len(tc.want))
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Errorf("Messages()[%d] = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestQueue_Copies(t *testing.T) {
	q := memstore.NewQueue()
	body := []byte("hello")
	if err := q.Enqueue(context.Background(), "o1", "u1", body); err != nil {
		t.Fatalf("Enqueue: got error %v, want nil", err)
	}
	body[0] = 'X'
	q.Messages()[0][0] = 'Y'
	if got := string(q.Messages()[0]); got != "hello" {
		t.Errorf("Messages()[0] = %q after callers changed their copies, want %q", got, "hello")
	}
}

func TestQueue_Concurrent(t *testing.T) {
	const senders, orders = 16, 100
	q := memstore.NewQueue()
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for i := range orders {
				id := fmt.Sprint(i)
				if err := q.Enqueue(context.Background(), id, "u", []byte(id)); err != nil {
					t.Errorf("Enqueue(%s): got error %v, want nil", id, err)
				}
			}
		})
	}
	wg.Wait()
	if got := q.Len(); got != orders {
		t.Errorf("Len() after %d senders sent the same %d orders = %d, want %d", senders, orders, got, orders)
	}
}

func BenchmarkTakeStock(b *testing.B) {
	ctx := context.Background()
	st := memstore.New()
	sale := flashsale.Sale{ID: "bench", Stock: int64(b.N) + 1, Shards: 1}
	if err := st.CreateSale(ctx, sale, []int64{sale.Stock}); err != nil {
		b.Fatalf("CreateSale: %v", err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := st.TakeStock(ctx, sale.ID, 0, 1); err != nil {
				b.Errorf("TakeStock: got error %v, want nil", err)
				return
			}
		}
	})
}
