package dynamostore_test

import (
	"context"
	"testing"
	"time"

	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/faultproxy"
	"flashsale/shared/local/testenv"
)

// TestStock_LostAnswerIsAppliedOnce loses DynamoDB's answer to each
// unconditional or hot stock write at the wire (the connection is reset
// after the write was applied), with the SDK settings the functions use in
// AWS. The write must count once: an automatic retry of ReturnStock would
// add the units twice (units on sale that do not exist: an oversell), and a
// retry of TakeStock would take them twice (a leak, and one more write on
// the hottest item).
func TestStock_LostAnswerIsAppliedOnce(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	direct := dynamostore.New(env.DynamoDB, env.Settings.SalesTable, env.Settings.OrdersTable)

	proxy := faultproxy.Start(t, "dynamodb", env.Settings.DynamoDBEndpoint)
	s := env.Settings
	s.DynamoDBEndpoint = proxy.URL()
	s.MaxAttempts, s.AttemptTimeout = awsclient.DefaultMaxAttempts, awsclient.DefaultAttemptTimeout
	cfg, err := awsclient.LoadConfig(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	viaProxy := dynamostore.New(awsclient.DynamoDB(cfg, s), s.SalesTable, s.OrdersTable)

	tests := []struct {
		name  string
		write func(saleID string) error
		delta int64 // the change to shard 0 if the write counts once
	}{
		{"ReturnStock", func(id string) error { return viaProxy.ReturnStock(ctx, id, 0, 3) }, +3},
		{"TakeStock", func(id string) error { return viaProxy.TakeStock(ctx, id, 0, 3) }, -3},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now().UTC()
			sale := flashsale.Sale{
				ID: testenv.Prefix() + "wire", Name: "Wire", PriceCents: 100, Currency: "USD",
				StartsAt: now, EndsAt: now.Add(time.Hour), Stock: 20, PerUserLimit: 1,
				PaymentWindow: time.Minute, Shards: 2,
			}
			if err := direct.CreateSale(ctx, sale, []int64{10, 10}); err != nil {
				t.Fatal(err)
			}
			if err := proxy.Reset(faultproxy.Downstream, 1); err != nil {
				t.Fatal(err)
			}
			err := tc.write(sale.ID)
			proxy.Heal()
			if err == nil {
				t.Errorf("case %d: the answer was lost, got no error", i)
			}
			got, err := direct.Available(ctx, sale)
			if err != nil {
				t.Fatal(err)
			}
			if want := 10 + tc.delta; got[0] != want {
				t.Errorf("shard 0 holds %d after one lost answer, want %d (applied once)", got[0], want)
			}
		})
	}
}
