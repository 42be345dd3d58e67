package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"flashsale/shared/flashsale"
)

// API is the part of the DynamoDB client the store uses; tests wrap it to
// count calls or inject faults.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is the DynamoDB adapter.
//
// Its condition and update expressions are fixed strings written out in
// full rather than built with feature/dynamodb/expression: each is one short
// line, and reading the exact expression next to its comment is what a
// reviewer of a conditional write needs.
type Store struct {
	db     API
	sales  string
	orders string
}

// New returns a Store over the two tables.
func New(db API, salesTable, ordersTable string) *Store {
	return &Store{db: db, sales: salesTable, orders: ordersTable}
}

var _ flashsale.Store = (*Store)(nil)

func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}
}

func key2(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk},
		"sk": &types.AttributeValueMemberS{Value: sk},
	}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// conditionFailed reports a failed condition on a single-item write and
// returns the item DynamoDB sent back with it, if any.
func conditionFailed(err error) (map[string]types.AttributeValue, bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	return nil, false
}

// cancelled returns, for a cancelled transaction, which items failed their
// condition (by index) with the old items DynamoDB returned.
func cancelled(err error) (map[int]map[string]types.AttributeValue, bool) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, false
	}
	failed := map[int]map[string]types.AttributeValue{}
	for i, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			failed[i] = r.Item
		}
	}
	if len(failed) == 0 { // e.g. TransactionConflict: not a business outcome
		return nil, false
	}
	return failed, true
}

// CreateSale writes the sale and its shards in transactions of at most 100
// items; the first holds the sale item, whose condition makes ids unique.
func (s *Store) CreateSale(ctx context.Context, sale flashsale.Sale, shardStock []int64) error {
	item, err := attributevalue.MarshalMap(toSaleItem(sale))
	if err != nil {
		return fmt.Errorf("marshal sale: %w", err)
	}
	writes := []types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.sales, Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}}
	for k, n := range shardStock {
		it, err := attributevalue.MarshalMap(shardItem{PK: shardKey(sale.ID, k), SaleID: sale.ID, Available: n})
		if err != nil {
			return fmt.Errorf("marshal shard: %w", err)
		}
		writes = append(writes, types.TransactWriteItem{Put: &types.Put{TableName: &s.sales, Item: it}})
	}
	for first := true; len(writes) > 0; first = false {
		n := min(len(writes), 100)
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes[:n]})
		if failed, ok := cancelled(err); ok && first {
			if _, saleFailed := failed[0]; saleFailed {
				return flashsale.ErrSaleExists
			}
		}
		if err != nil {
			// Shards written by earlier chunks hold units the sale counts as
			// loaded; settlement's audit sees any shortfall as a leak.
			return fmt.Errorf("create sale %s: %w", sale.ID, err)
		}
		writes = writes[n:]
	}
	return nil
}

// Sale reads a sale, strongly consistent.
func (s *Store) Sale(ctx context.Context, saleID string) (flashsale.SaleState, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.sales, Key: key(saleKey(saleID)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return flashsale.SaleState{}, fmt.Errorf("get sale %s: %w", saleID, err)
	}
	if out.Item == nil {
		return flashsale.SaleState{}, flashsale.ErrSaleNotFound
	}
	var it saleItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return flashsale.SaleState{}, fmt.Errorf("unmarshal sale %s: %w", saleID, err)
	}
	return it.state(), nil
}

// Available reads every shard with BatchGetItem, 100 keys a call.
func (s *Store) Available(ctx context.Context, sale flashsale.Sale) ([]int64, error) {
	out := make([]int64, sale.Shards)
	index := make(map[string]int, sale.Shards)
	var keys []map[string]types.AttributeValue
	for k := range sale.Shards {
		index[shardKey(sale.ID, k)] = k
		keys = append(keys, key(shardKey(sale.ID, k)))
	}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		req := map[string]types.KeysAndAttributes{s.sales: {Keys: keys[:n], ConsistentRead: aws.Bool(true)}}
		keys = keys[n:]
		for len(req) > 0 {
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("read shards of %s: %w", sale.ID, err)
			}
			for _, item := range res.Responses[s.sales] {
				var it shardItem
				if err := attributevalue.UnmarshalMap(item, &it); err != nil {
					return nil, fmt.Errorf("unmarshal shard: %w", err)
				}
				out[index[it.PK]] = it.Available
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// notRetried makes one call a single attempt, whatever the client's retry
// settings. It is for the shard writes that are not idempotent: when an
// answer is lost on the wire after DynamoDB applied the write, an automatic
// retry applies it again. A second ReturnStock would put units on sale that
// do not exist (an oversell); a second TakeStock takes units no order holds
// (a leak, and one more write on the hottest item). Failing instead is
// safe: the caller compensates or answers 503, and what is left over is a
// leak that settlement repairs. The other writes need no such care: the
// transactions carry a ClientRequestToken the SDK keeps across retries
// (DynamoDB, and DynamoDB Local, apply them once), and a retried
// conditional write fails its own condition.
func notRetried(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }

// TakeStock is the hot write: one conditional decrement of one shard. It is
// never retried automatically (see notRetried).
func (s *Store) TakeStock(ctx context.Context, saleID string, shard int, qty int64) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &s.sales,
		Key:                                 key(shardKey(saleID, shard)),
		UpdateExpression:                    aws.String("SET available = available - :q"),
		ConditionExpression:                 aws.String("available >= :q"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":q": num(qty)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, notRetried)
	if old, ok := conditionFailed(err); ok {
		var it shardItem
		if old != nil {
			_ = attributevalue.UnmarshalMap(old, &it) // a missing shard holds 0
		}
		return &flashsale.ShortError{Available: it.Available}
	}
	if err != nil {
		return fmt.Errorf("take %d from shard %d of %s: %w", qty, shard, saleID, err)
	}
	return nil
}

// ReturnStock adds units to a shard, then clears the sold-out mark. Two
// writes on purpose: a transaction would make the hot shard item conflict
// with every concurrent take. The first is never retried automatically (see
// notRetried); the second may be, since bumping the epoch twice is harmless.
func (s *Store) ReturnStock(ctx context.Context, saleID string, shard int, qty int64) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.sales,
		Key:                       key(shardKey(saleID, shard)),
		UpdateExpression:          aws.String("SET saleId = :s ADD available :q"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":q": num(qty), ":s": &types.AttributeValueMemberS{Value: saleID}},
	}, notRetried)
	if err != nil {
		return fmt.Errorf("return %d to shard %d of %s: %w", qty, shard, saleID, err)
	}
	return s.noteReturn(ctx, saleID)
}

// orderSet is the string set a claim keeps its order IDs in.
func orderSet(orderID string) types.AttributeValue {
	return &types.AttributeValueMemberSS{Value: []string{orderID}}
}

// ClearSoldOut clears the sold-out mark and bumps the epoch.
// MarkScheduled sets the sale item's scheduled flag.
func (s *Store) MarkScheduled(ctx context.Context, saleID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.sales,
		Key:                       key(saleKey(saleID)),
		UpdateExpression:          aws.String("SET scheduled = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if _, ok := conditionFailed(err); ok {
		return flashsale.ErrSaleNotFound
	}
	if err != nil {
		return fmt.Errorf("mark %s scheduled: %w", saleID, err)
	}
	return nil
}

func (s *Store) ClearSoldOut(ctx context.Context, saleID string) error {
	return s.noteReturn(ctx, saleID)
}

func (s *Store) noteReturn(ctx context.Context, saleID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.sales,
		Key:                       key(saleKey(saleID)),
		UpdateExpression:          aws.String("SET soldOut = :f ADD epoch :one"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}, ":one": num(1)},
	})
	if _, ok := conditionFailed(err); ok {
		return flashsale.ErrSaleNotFound
	}
	if err != nil {
		return fmt.Errorf("clear sold-out of %s: %w", saleID, err)
	}
	return nil
}

// MarkSoldOut sets the mark unless stock came back since epoch.
func (s *Store) MarkSoldOut(ctx context.Context, saleID string, epoch int64) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.sales,
		Key:                       key(saleKey(saleID)),
		UpdateExpression:          aws.String("SET soldOut = :t"),
		ConditionExpression:       aws.String("epoch = :e"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":e": num(epoch)},
	})
	if _, ok := conditionFailed(err); ok {
		return flashsale.ErrEpochChanged
	}
	if err != nil {
		return fmt.Errorf("mark %s sold out: %w", saleID, err)
	}
	return nil
}

// AddStock grows one shard and the loaded count in one transaction; admin
// restocks are rare enough that a conflict on the shard does not matter.
func (s *Store) AddStock(ctx context.Context, saleID string, shard int, qty int64) error {
	if err := s.addUnits(ctx, saleID, shard, qty, true); err != nil {
		return fmt.Errorf("restock %s: %w", saleID, err)
	}
	return nil
}

// addUnits adds qty units to a shard and, in the same transaction, clears
// the sale's sold-out mark and bumps its epoch; countLoaded also adds them
// to loaded, and extra items join the transaction.
// Errors: ErrSaleNotFound (nothing is written).
func (s *Store) addUnits(ctx context.Context, saleID string, shard int, qty int64, countLoaded bool, extra ...types.TransactWriteItem) error {
	update := "SET soldOut = :f ADD epoch :one"
	values := map[string]types.AttributeValue{":f": &types.AttributeValueMemberBOOL{Value: false}, ":one": num(1)}
	if countLoaded {
		update += ", loaded :q"
		values[":q"] = num(qty)
	}
	items := append([]types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                 &s.sales,
			Key:                       key(saleKey(saleID)),
			UpdateExpression:          aws.String(update),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: values,
		}},
		{Update: &types.Update{
			TableName:                 &s.sales,
			Key:                       key(shardKey(saleID, shard)),
			UpdateExpression:          aws.String("SET saleId = :s ADD available :q"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":q": num(qty), ":s": &types.AttributeValueMemberS{Value: saleID}},
		}},
	}, extra...)
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if failed, ok := cancelled(err); ok {
		if _, missing := failed[0]; missing {
			return flashsale.ErrSaleNotFound
		}
	}
	return err
}

// Reserve writes the key, the claim and the hold in one transaction. These
// are per-user items, never hot, so the transaction's 2x cost and conflicts
// do not touch the sale's capacity.
func (s *Store) Reserve(ctx context.Context, r flashsale.Reservation) error {
	o := r.Order
	idem, err := attributevalue.MarshalMap(idemItem{
		PK: idemKey(o.UserID, r.Key), SK: idemSK, UserID: o.UserID, Key: r.Key, SaleID: o.SaleID,
		Quantity: o.Quantity, OrderID: o.ID, Receipt: r.Receipt, TTL: r.KeyExpiresAt.Unix(),
	})
	if err != nil {
		return fmt.Errorf("marshal idempotency record: %w", err)
	}
	hold, err := attributevalue.MarshalMap(toOrderItem(o, r.Bucket))
	if err != nil {
		return fmt.Errorf("marshal hold: %w", err)
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{
			TableName: &s.orders, Item: idem,
			ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Update: &types.Update{
			TableName:           &s.orders,
			Key:                 key2(claimKey(o.SaleID, o.UserID), claimSK),
			UpdateExpression:    aws.String("SET held = if_not_exists(held, :zero) + :q ADD orders :order, history :order"),
			ConditionExpression: aws.String("(attribute_not_exists(held) AND :zero <= :max) OR held <= :max"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":zero": num(0), ":q": num(o.Quantity), ":max": num(r.Limit - o.Quantity), ":order": orderSet(o.ID),
			},
		}},
		{Put: &types.Put{TableName: &s.orders, Item: hold, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	if failed, ok := cancelled(err); ok {
		if old, keyTaken := failed[0]; keyTaken {
			if old == nil { // the emulator may not return it: read it
				rec, rerr := s.IdempotencyRecord(ctx, o.UserID, r.Key)
				if rerr != nil {
					return fmt.Errorf("read taken key: %w", rerr)
				}
				return &flashsale.KeyTakenError{Record: rec}
			}
			var it idemItem
			if err := attributevalue.UnmarshalMap(old, &it); err != nil {
				return fmt.Errorf("unmarshal idempotency record: %w", err)
			}
			return &flashsale.KeyTakenError{Record: it.record()}
		}
		if _, limit := failed[1]; limit {
			return flashsale.ErrLimitReached
		}
	}
	if err != nil {
		return fmt.Errorf("reserve %s: %w", o.ID, err)
	}
	return nil
}

// Accept turns a pending hold into a reserved order.
func (s *Store) Accept(ctx context.Context, ref flashsale.OrderRef) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.orders,
		Key:                       key2(bucketKey(ref.SaleID, ref.Bucket), orderSK(ref.OrderID)),
		UpdateExpression:          aws.String("SET #st = :reserved"),
		ConditionExpression:       aws.String("#st = :pending"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: statusValues(),
	})
	if _, ok := conditionFailed(err); ok {
		return flashsale.ErrNotPending
	}
	if err != nil {
		return fmt.Errorf("accept %s: %w", ref.OrderID, err)
	}
	return nil
}

func statusValues() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		":pending":  &types.AttributeValueMemberS{Value: string(flashsale.OrderPending)},
		":reserved": &types.AttributeValueMemberS{Value: string(flashsale.OrderReserved)},
	}
}

// Abort marks a pending hold aborted, deletes its key and gives the claim
// back, in one transaction.
func (s *Store) Abort(ctx context.Context, ref flashsale.OrderRef, userID, idemKeyValue string, qty int64, now time.Time) error {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                &s.orders,
			Key:                      key2(bucketKey(ref.SaleID, ref.Bucket), orderSK(ref.OrderID)),
			UpdateExpression:         aws.String("SET #st = :aborted, abortedAtMs = :now"),
			ConditionExpression:      aws.String("#st = :pending"),
			ExpressionAttributeNames: map[string]string{"#st": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pending": &types.AttributeValueMemberS{Value: string(flashsale.OrderPending)},
				":aborted": &types.AttributeValueMemberS{Value: string(flashsale.OrderAborted)},
				":now":     num(now.UnixMilli()),
			},
		}},
		{Delete: &types.Delete{
			TableName:                 &s.orders,
			Key:                       key2(idemKey(userID, idemKeyValue), idemSK),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR orderId = :o"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":o": &types.AttributeValueMemberS{Value: ref.OrderID}},
		}},
		{Update: &types.Update{
			TableName:                 &s.orders,
			Key:                       key2(claimKey(ref.SaleID, userID), claimSK),
			UpdateExpression:          aws.String("ADD held :neg DELETE orders :order, history :order"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":neg": num(-qty), ":order": orderSet(ref.OrderID)},
		}},
	}})
	if _, ok := cancelled(err); ok {
		return flashsale.ErrNotPending
	}
	if err != nil {
		return fmt.Errorf("abort %s: %w", ref.OrderID, err)
	}
	return nil
}

// IdempotencyRecord reads a user's key.
func (s *Store) IdempotencyRecord(ctx context.Context, userID, k string) (flashsale.IdempotencyRecord, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.orders, Key: key2(idemKey(userID, k), idemSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return flashsale.IdempotencyRecord{}, fmt.Errorf("get key: %w", err)
	}
	if out.Item == nil {
		return flashsale.IdempotencyRecord{}, flashsale.ErrOrderNotFound
	}
	var it idemItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return flashsale.IdempotencyRecord{}, fmt.Errorf("unmarshal key: %w", err)
	}
	return it.record(), nil
}

// Order reads one order, strongly consistent.
func (s *Store) Order(ctx context.Context, ref flashsale.OrderRef) (flashsale.Order, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.orders, Key: key2(bucketKey(ref.SaleID, ref.Bucket), orderSK(ref.OrderID)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return flashsale.Order{}, fmt.Errorf("get order %s: %w", ref.OrderID, err)
	}
	if out.Item == nil {
		return flashsale.Order{}, flashsale.ErrOrderNotFound
	}
	var it orderItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return flashsale.Order{}, fmt.Errorf("unmarshal order %s: %w", ref.OrderID, err)
	}
	return it.order(), nil
}
