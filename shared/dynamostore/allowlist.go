package dynamostore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"flashsale/shared/flashsale"
)

// Allowlist layout: one item per user (Orders pk=ALLOW#<sale>#<user>
// sk=ALLOW), so the membership reads at token issue spread over
// partitions like the claims do, and a count on the SALE# item
// (allowlisted).
func allowKey(saleID, userID string) string { return "ALLOW#" + saleID + "#" + userID }

const allowSK = "ALLOW"

// Batch limits of DynamoDB's API.
const (
	batchGetMax   = 100
	batchWriteMax = 25
)

// unprocessedAttempts bounds how often a batch's UnprocessedItems or
// UnprocessedKeys are sent again; with backoff from 50 ms doubling to a
// 2 s cap, that is about 10 s of throttling before the import gives up
// (and, since it is idempotent, can simply be run again).
const unprocessedAttempts = 8

// backoff is the wait before retry attempt n (1-based) of a batch's
// unprocessed part: exponential with full jitter, as AWS advises for
// BatchWriteItem.
func backoff(n int) time.Duration {
	ceil := min(50*time.Millisecond<<(n-1), 2*time.Second)
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Allowlisted is one eventually consistent GetItem: an import finishes
// before the sale opens, so a stale read is not a concern.
func (s *Store) Allowlisted(ctx context.Context, saleID, userID string) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.orders, Key: key2(allowKey(saleID, userID), allowSK),
		ProjectionExpression: aws.String("pk"),
	})
	if err != nil {
		return false, fmt.Errorf("read allowlist of %s: %w", saleID, err)
	}
	return out.Item != nil, nil
}

// AddToAllowlist reads which users are already on the list (BatchGetItem,
// consistent), writes the others (BatchWriteItem, retrying UnprocessedItems
// with backoff) and adds their number to the sale's count. Two imports of
// the same new ids running at the same moment could both count them; run
// one import at a time (the CLI does).
func (s *Store) AddToAllowlist(ctx context.Context, saleID string, userIDs []string) (int64, int64, error) {
	fresh, err := s.notAllowlisted(ctx, saleID, userIDs)
	if err != nil {
		return 0, 0, err
	}
	for start := 0; start < len(fresh); start += batchWriteMax {
		var puts []types.WriteRequest
		for _, u := range fresh[start:min(start+batchWriteMax, len(fresh))] {
			puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: allowKey(saleID, u)}, "sk": &types.AttributeValueMemberS{Value: allowSK},
				"saleId": &types.AttributeValueMemberS{Value: saleID}, "userId": &types.AttributeValueMemberS{Value: u},
			}}})
		}
		if err := s.batchWrite(ctx, map[string][]types.WriteRequest{s.orders: puts}); err != nil {
			return 0, 0, fmt.Errorf("write allowlist of %s: %w", saleID, err)
		}
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.sales,
		Key:                       key(saleKey(saleID)),
		UpdateExpression:          aws.String("ADD allowlisted :n"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(len(fresh)))},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if _, ok := conditionFailed(err); ok {
		return 0, 0, flashsale.ErrSaleNotFound
	}
	if err != nil {
		return 0, 0, fmt.Errorf("count allowlist of %s: %w", saleID, err)
	}
	total := int64(0)
	if n, ok := out.Attributes["allowlisted"].(*types.AttributeValueMemberN); ok {
		total, _ = strconv.ParseInt(n.Value, 10, 64)
	}
	return int64(len(fresh)), total, nil
}

// notAllowlisted returns the users of userIDs not yet on the sale's list.
func (s *Store) notAllowlisted(ctx context.Context, saleID string, userIDs []string) ([]string, error) {
	present := map[string]bool{}
	for start := 0; start < len(userIDs); start += batchGetMax {
		var keys []map[string]types.AttributeValue
		for _, u := range userIDs[start:min(start+batchGetMax, len(userIDs))] {
			keys = append(keys, key2(allowKey(saleID, u), allowSK))
		}
		req := map[string]types.KeysAndAttributes{s.orders: {
			Keys: keys, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("userId"),
		}}
		for attempt := 1; len(req) > 0; attempt++ {
			if attempt > 1 {
				if attempt > unprocessedAttempts {
					return nil, fmt.Errorf("read allowlist of %s: keys still unprocessed after %d attempts", saleID, unprocessedAttempts)
				}
				if err := sleep(ctx, backoff(attempt-1)); err != nil {
					return nil, err
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("read allowlist of %s: %w", saleID, err)
			}
			for _, item := range res.Responses[s.orders] {
				if u, ok := item["userId"].(*types.AttributeValueMemberS); ok {
					present[u.Value] = true
				}
			}
			req = res.UnprocessedKeys
		}
	}
	var fresh []string
	for _, u := range userIDs {
		if !present[u] {
			fresh = append(fresh, u)
		}
	}
	return fresh, nil
}

// batchWrite sends one BatchWriteItem and then its UnprocessedItems again,
// with backoff, until none are left.
func (s *Store) batchWrite(ctx context.Context, items map[string][]types.WriteRequest) error {
	for attempt := 1; len(items) > 0; attempt++ {
		if attempt > 1 {
			if attempt > unprocessedAttempts {
				return fmt.Errorf("items still unprocessed after %d attempts", unprocessedAttempts)
			}
			if err := sleep(ctx, backoff(attempt-1)); err != nil {
				return err
			}
		}
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: items})
		if err != nil {
			return err
		}
		items = out.UnprocessedItems
	}
	return nil
}
