package dynamostore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/testenv"
)

// throttledBatches is DynamoDB Local that, like DynamoDB under load, leaves
// part of a batch unprocessed: the first BatchGetItem and the first two
// BatchWriteItems apply only half of their requests and hand back the rest.
type throttledBatches struct {
	*dynamodb.Client
	gets, writes atomic.Int32
}

func (d *throttledBatches) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if d.gets.Add(1) > 1 {
		return d.Client.BatchGetItem(ctx, in, opts...)
	}
	half, rest := map[string]types.KeysAndAttributes{}, map[string]types.KeysAndAttributes{}
	for table, ka := range in.RequestItems {
		n := len(ka.Keys) / 2
		first, second := ka, ka
		first.Keys, second.Keys = ka.Keys[:n], ka.Keys[n:]
		half[table], rest[table] = first, second
	}
	out, err := d.Client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: half}, opts...)
	if err != nil {
		return nil, err
	}
	out.UnprocessedKeys = rest
	return out, nil
}

func (d *throttledBatches) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if d.writes.Add(1) > 2 {
		return d.Client.BatchWriteItem(ctx, in, opts...)
	}
	half, rest := map[string][]types.WriteRequest{}, map[string][]types.WriteRequest{}
	for table, reqs := range in.RequestItems {
		n := len(reqs) / 2
		half[table], rest[table] = reqs[:n], reqs[n:]
	}
	out, err := d.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: half}, opts...)
	if err != nil {
		return nil, err
	}
	out.UnprocessedItems = rest
	return out, nil
}

// TestAddToAllowlist_RetriesUnprocessedItems: what DynamoDB leaves
// unprocessed is sent again until every id is on the list, counted once.
func TestAddToAllowlist_RetriesUnprocessedItems(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	db := &throttledBatches{Client: env.DynamoDB}
	st := dynamostore.New(db, env.Settings.SalesTable, env.Settings.OrdersTable)
	now := time.Now().UTC()
	sale := flashsale.Sale{ID: testenv.Prefix() + "allow", Name: "Allow", PriceCents: 100, Currency: "USD",
		StartsAt: now, EndsAt: now.Add(time.Hour), Stock: 1, PerUserLimit: 1, PaymentWindow: time.Minute, Shards: 1}
	if err := st.CreateSale(ctx, sale, []int64{1}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 60)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%02d", i)
	}
	added, total, err := st.AddToAllowlist(ctx, sale.ID, ids)
	if err != nil || added != 60 || total != 60 {
		t.Fatalf("AddToAllowlist = %d, %d, %v; want 60, 60, nil", added, total, err)
	}
	if db.gets.Load() < 2 || db.writes.Load() < 4 {
		t.Fatalf("%d BatchGetItem and %d BatchWriteItem calls: the unprocessed parts were not sent again", db.gets.Load(), db.writes.Load())
	}
	for _, id := range ids {
		if ok, err := st.Allowlisted(ctx, sale.ID, id); err != nil || !ok {
			t.Fatalf("%s: Allowlisted = %v, %v; want true (an unprocessed item was dropped)", id, ok, err)
		}
	}
}
