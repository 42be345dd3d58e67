package dynamostore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"flashsale/shared/flashsale"
)

// Release moves a reserved order to expired or cancelled, marks its units
// due for restock and gives the claim back, in one transaction.
func (s *Store) Release(ctx context.Context, ref flashsale.OrderRef, userID string, to flashsale.OrderStatus, now time.Time) (flashsale.Order, error) {
	o, err := s.Order(ctx, ref)
	if err != nil {
		return flashsale.Order{}, err
	}
	cancel := to == flashsale.OrderCancelled
	if cancel && (o.UserID != userID || o.Status == flashsale.OrderPending || o.Status == flashsale.OrderAborted) {
		return flashsale.Order{}, flashsale.ErrOrderNotFound
	}
	// Milliseconds, as the condition below compares them.
	expired := now.UnixMilli() > o.ExpiresAt.UnixMilli()
	if o.Status != flashsale.OrderReserved || expired == cancel {
		return flashsale.Order{}, flashsale.ErrOrderNotReserved
	}
	cond := "#st = :reserved AND expiresAtMs >= :now" // cancel: not yet expired
	if !cancel {
		cond = "#st = :reserved AND expiresAtMs < :now"
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                &s.orders,
			Key:                      key2(bucketKey(ref.SaleID, ref.Bucket), orderSK(ref.OrderID)),
			UpdateExpression:         aws.String("SET #st = :to, restockDue = :t"),
			ConditionExpression:      aws.String(cond),
			ExpressionAttributeNames: map[string]string{"#st": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":reserved": &types.AttributeValueMemberS{Value: string(flashsale.OrderReserved)},
				":to":       &types.AttributeValueMemberS{Value: string(to)},
				":t":        &types.AttributeValueMemberBOOL{Value: true},
				":now":      num(now.UnixMilli()),
			},
		}},
		{Update: &types.Update{
			TableName:                 &s.orders,
			Key:                       key2(claimKey(ref.SaleID, o.UserID), claimSK),
			UpdateExpression:          aws.String("ADD held :neg DELETE orders :order"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":neg": num(-o.Quantity), ":order": orderSet(ref.OrderID)},
		}},
	}})
	if _, ok := cancelled(err); ok {
		return flashsale.Order{}, flashsale.ErrOrderNotReserved // it moved on meanwhile
	}
	if err != nil {
		return flashsale.Order{}, fmt.Errorf("release %s: %w", ref.OrderID, err)
	}
	o.Status, o.RestockDue = to, true
	return o, nil
}

// MarkRestocked claims the one right to return an order's units.
func (s *Store) MarkRestocked(ctx context.Context, ref flashsale.OrderRef, now time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.orders,
		Key:                       key2(bucketKey(ref.SaleID, ref.Bucket), orderSK(ref.OrderID)),
		UpdateExpression:          aws.String("SET restockedAtMs = :now REMOVE restockDue"),
		ConditionExpression:       aws.String("restockDue = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":now": num(now.UnixMilli())},
	})
	if _, ok := conditionFailed(err); ok {
		return flashsale.ErrNotPending
	}
	if err != nil {
		return fmt.Errorf("mark %s restocked: %w", ref.OrderID, err)
	}
	return nil
}

// SaleOrders queries every bucket of a sale with strongly consistent reads,
// a few buckets at a time.
func (s *Store) SaleOrders(ctx context.Context, sale flashsale.Sale) ([]flashsale.Order, error) {
	var (
		mu     sync.Mutex
		orders []flashsale.Order
		first  error
		wg     sync.WaitGroup
		slots  = make(chan struct{}, 8)
	)
	for b := range sale.OrderBuckets() {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			got, err := s.bucket(ctx, sale.ID, b)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			orders = append(orders, got...)
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return orders, nil
}

func (s *Store) bucket(ctx context.Context, saleID string, b int) ([]flashsale.Order, error) {
	var out []flashsale.Order
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 &s.orders,
		KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :order)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: bucketKey(saleID, b)}, ":order": &types.AttributeValueMemberS{Value: "ORDER#"}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query orders of %s bucket %d: %w", saleID, b, err)
		}
		for _, item := range page.Items {
			var it orderItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, fmt.Errorf("unmarshal order: %w", err)
			}
			out = append(out, it.order())
		}
	}
	return out, nil
}

// ClaimOrders lists the orders a user's claim counts.
func (s *Store) ClaimOrders(ctx context.Context, saleID, userID string) ([]string, error) {
	it, err := s.claimItem(ctx, saleID, userID)
	return it.Orders, err
}

// UserOrders lists every order the user's purchases in the sale created:
// the claim item keeps them in its history set, which only Abort shrinks.
func (s *Store) UserOrders(ctx context.Context, saleID, userID string) ([]string, error) {
	it, err := s.claimItem(ctx, saleID, userID)
	return it.History, err
}

// claimOrderSets is the claim item's two order sets.
type claimOrderSets struct {
	Orders  []string `dynamodbav:"orders,stringset"`
	History []string `dynamodbav:"history,stringset"`
}

func (s *Store) claimItem(ctx context.Context, saleID, userID string) (claimOrderSets, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.orders, Key: key2(claimKey(saleID, userID), claimSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return claimOrderSets{}, fmt.Errorf("get claim: %w", err)
	}
	var it claimOrderSets
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return claimOrderSets{}, fmt.Errorf("unmarshal claim: %w", err)
	}
	sort.Strings(it.Orders)
	sort.Strings(it.History)
	return it, nil
}

// Claim reads how many units a user holds in a sale.
func (s *Store) Claim(ctx context.Context, saleID, userID string) (int64, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.orders, Key: key2(claimKey(saleID, userID), claimSK), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("get claim: %w", err)
	}
	var it struct {
		Held int64 `dynamodbav:"held"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return 0, fmt.Errorf("unmarshal claim: %w", err)
	}
	return it.Held, nil
}
