package dynamostore

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"flashsale/shared/flashsale"
)

// Reminder layout: Orders pk=REMIND#<sale>#<b> sk=<user>, b = hash(user)
// mod ReminderBuckets. A popular sale gathers its subscribers, and a remind
// run claims them at thousands a second: one partition takes 1,000 writes a
// second, so they spread over buckets as orders do. The table's TTL deletes
// them after the sale ends.
const ReminderBuckets = 16

func reminderKey(saleID string, b int) string { return fmt.Sprintf("REMIND#%s#%d", saleID, b) }

func reminderBucket(userID string) int {
	h := fnv.New32a()
	h.Write([]byte(userID))
	return int(h.Sum32() % ReminderBuckets)
}

type reminderItem struct {
	PK             string `dynamodbav:"pk"`
	SK             string `dynamodbav:"sk"`
	SubscribedAtMs int64  `dynamodbav:"subscribedAtMs"`
	NotifiedAtMs   int64  `dynamodbav:"notifiedAtMs,omitempty"`
	TTL            int64  `dynamodbav:"ttl"`
}

// AddReminder is one conditional PutItem: a second subscription fails the
// condition and changes nothing (not even a claim a run made).
func (s *Store) AddReminder(ctx context.Context, r flashsale.Reminder, expires time.Time) (bool, error) {
	av, err := attributevalue.MarshalMap(reminderItem{
		PK: reminderKey(r.SaleID, reminderBucket(r.UserID)), SK: r.UserID,
		SubscribedAtMs: r.SubscribedAt.UnixMilli(), TTL: expires.Add(24 * time.Hour).Unix(),
	})
	if err != nil {
		return false, fmt.Errorf("marshal reminder: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.orders, Item: av, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if _, ok := conditionFailed(err); ok {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("add reminder %s/%s: %w", r.SaleID, r.UserID, err)
	}
	return true, nil
}

// DeleteReminder is one unconditional DeleteItem.
func (s *Store) DeleteReminder(ctx context.Context, saleID, userID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.orders, Key: key2(reminderKey(saleID, reminderBucket(userID)), userID),
	})
	if err != nil {
		return fmt.Errorf("delete reminder %s/%s: %w", saleID, userID, err)
	}
	return nil
}

// Reminders queries every bucket, strongly consistent, and sorts by user.
func (s *Store) Reminders(ctx context.Context, saleID string) ([]flashsale.Reminder, error) {
	var out []flashsale.Reminder
	for b := range ReminderBuckets {
		items, err := s.queryAll(ctx, s.orders, reminderKey(saleID, b), "")
		if err != nil {
			return nil, err
		}
		var its []reminderItem
		if err := attributevalue.UnmarshalListOfMaps(items, &its); err != nil {
			return nil, fmt.Errorf("unmarshal reminders: %w", err)
		}
		for _, it := range its {
			r := flashsale.Reminder{SaleID: saleID, UserID: it.SK, SubscribedAt: time.UnixMilli(it.SubscribedAtMs).UTC()}
			if it.NotifiedAtMs != 0 {
				r.NotifiedAt = time.UnixMilli(it.NotifiedAtMs).UTC()
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b flashsale.Reminder) int { return strings.Compare(a.UserID, b.UserID) })
	return out, nil
}

// ClaimReminder is one conditional UpdateItem: the subscription exists and
// nobody claimed it.
func (s *Store) ClaimReminder(ctx context.Context, saleID, userID string, now time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.orders, Key: key2(reminderKey(saleID, reminderBucket(userID)), userID),
		UpdateExpression:          aws.String("SET notifiedAtMs = :now"),
		ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(notifiedAtMs)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixMilli())},
	})
	if _, ok := conditionFailed(err); ok {
		return flashsale.ErrReminderClaimed
	}
	if err != nil {
		return fmt.Errorf("claim reminder %s/%s: %w", saleID, userID, err)
	}
	return nil
}

// UnclaimReminder removes the claim, if the subscription still exists.
func (s *Store) UnclaimReminder(ctx context.Context, saleID, userID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.orders, Key: key2(reminderKey(saleID, reminderBucket(userID)), userID),
		UpdateExpression:    aws.String("REMOVE notifiedAtMs"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if _, ok := conditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unclaim reminder %s/%s: %w", saleID, userID, err)
	}
	return nil
}
