package memstore_test

import (
	"context"
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
