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
	ClaimedAtMs    int64  `dynamodbav:"claimedAtMs,omitempty"`
	SentAtMs       int64  `dynamodbav:"sentAtMs,omitempty"`
	// Unsubscribed keeps the item, with its claim and sent mark, after a
	// DELETE, so subscribing again reminds nobody twice.
	Unsubscribed bool  `dynamodbav:"unsubscribed,omitempty"`
	TTL          int64 `dynamodbav:"ttl"`
}

func reminderKeyOf(saleID, userID string) map[string]types.AttributeValue {
	return key2(reminderKey(saleID, reminderBucket(userID)), userID)
}

// AddReminder is one UpdateItem that creates the subscription or lifts an
// unsubscribe, keeping any claim and sent mark; the old item says whether
// it was a new subscription.
func (s *Store) AddReminder(ctx context.Context, r flashsale.Reminder, expires time.Time) (bool, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.orders),
		Key:                      reminderKeyOf(r.SaleID, r.UserID),
		UpdateExpression:         aws.String("SET subscribedAtMs = if_not_exists(subscribedAtMs, :now), #ttl = :ttl REMOVE unsubscribed"),
		ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(r.SubscribedAt.UnixMilli()), ":ttl": num(expires.Add(24 * time.Hour).Unix()),
		},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return false, fmt.Errorf("add reminder %s/%s: %w", r.SaleID, r.UserID, err)
	}
	_, again := out.Attributes["unsubscribed"]
	return len(out.Attributes) == 0 || again, nil
}

// DeleteReminder marks the subscription unsubscribed; a missing one is fine.
func (s *Store) DeleteReminder(ctx context.Context, saleID, userID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.orders),
		Key:                       reminderKeyOf(saleID, userID),
		UpdateExpression:          aws.String("SET unsubscribed = :t"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if _, ok := conditionFailed(err); ok {
		return nil
	}
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
			if it.Unsubscribed {
				continue
			}
			out = append(out, flashsale.Reminder{SaleID: saleID, UserID: it.SK, SubscribedAt: fromMs(it.SubscribedAtMs),
				ClaimedAt: fromOptionalMs(it.ClaimedAtMs), SentAt: fromOptionalMs(it.SentAtMs)})
		}
	}
	slices.SortFunc(out, func(a, b flashsale.Reminder) int { return strings.Compare(a.UserID, b.UserID) })
	return out, nil
}

func fromOptionalMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMs(ms)
}

// ClaimReminder is one conditional UpdateItem: subscribed, not sent to,
// and not claimed since staleBefore.
func (s *Store) ClaimReminder(ctx context.Context, saleID, userID string, now, staleBefore time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.orders),
		Key:              reminderKeyOf(saleID, userID),
		UpdateExpression: aws.String("SET claimedAtMs = :now"),
		ConditionExpression: aws.String("attribute_exists(pk) AND attribute_not_exists(unsubscribed) AND attribute_not_exists(sentAtMs)" +
			" AND (attribute_not_exists(claimedAtMs) OR claimedAtMs < :stale)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixMilli()), ":stale": num(staleBefore.UnixMilli())},
	})
	if _, ok := conditionFailed(err); ok {
		return flashsale.ErrReminderClaimed
	}
	if err != nil {
		return fmt.Errorf("claim reminder %s/%s: %w", saleID, userID, err)
	}
	return nil
}

// MarkReminderSent sets the sent mark.
func (s *Store) MarkReminderSent(ctx context.Context, saleID, userID string, now time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.orders),
		Key:                       reminderKeyOf(saleID, userID),
		UpdateExpression:          aws.String("SET sentAtMs = :now"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixMilli())},
	})
	if _, ok := conditionFailed(err); ok {
		return nil // gone with its TTL: nothing left to mark
	}
	if err != nil {
		return fmt.Errorf("mark reminder %s/%s sent: %w", saleID, userID, err)
	}
	return nil
}

// UnclaimReminder removes the claim, unless the send was recorded.
func (s *Store) UnclaimReminder(ctx context.Context, saleID, userID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.orders),
		Key:                 reminderKeyOf(saleID, userID),
		UpdateExpression:    aws.String("REMOVE claimedAtMs"),
		ConditionExpression: aws.String("attribute_exists(pk) AND attribute_not_exists(sentAtMs)"),
	})
	if _, ok := conditionFailed(err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unclaim reminder %s/%s: %w", saleID, userID, err)
	}
	return nil
}
