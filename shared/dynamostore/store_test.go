package dynamostore_test

import (
	"testing"

	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/flashsale/storetest"
	"flashsale/shared/local/testenv"
)

// TestStore runs the Store contract suite on DynamoDB Local: what passes on
// the in-memory fake must pass on the real thing.
func TestStore(t *testing.T) {
	env := testenv.Require(t)
	st := dynamostore.New(env.DynamoDB, env.Settings.SalesTable, env.Settings.OrdersTable)
	storetest.Run(t, func(testing.TB) flashsale.Store { return st })
}
