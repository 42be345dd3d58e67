package dynamostore

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"flashsale/shared/flashsale"
)

// Ban layout: every ban of a kind under one partition key of the Orders
// table, sort key its ID (the ban id, or the user id), with the table's TTL
// so DynamoDB deletes it some time after it expires. Bans are few and read
// every few seconds per container at most, so one partition each is
// plenty, and one Query lists them.
const (
	ipBanPK   = "BAN#IP"
	userBanPK = "BAN#USER"
)

type banItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	CIDR        string `dynamodbav:"cidr,omitempty"`
	Reason      string `dynamodbav:"reason"`
	ExpiresAtMs int64  `dynamodbav:"expiresAtMs"`
	TTL         int64  `dynamodbav:"ttl"`
}

func (s *Store) putBan(ctx context.Context, it banItem) error {
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("marshal ban: %w", err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.orders, Item: av}); err != nil {
		return fmt.Errorf("put ban %s: %w", it.SK, err)
	}
	return nil
}

func (s *Store) bans(ctx context.Context, pk string) ([]banItem, error) {
	var out []banItem
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 &s.orders,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", pk, err)
		}
		var items []banItem
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			return nil, fmt.Errorf("unmarshal bans: %w", err)
		}
		out = append(out, items...)
	}
	return out, nil
}

// deleteBan deletes a ban in force: one that expired (but which the TTL
// has not deleted yet) is as gone as one never made.
func (s *Store) deleteBan(ctx context.Context, pk, sk string, now time.Time) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.orders, Key: key2(pk, sk),
		ConditionExpression:       aws.String("attribute_exists(pk) AND expiresAtMs > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.UnixMilli())},
	})
	if _, ok := conditionFailed(err); ok {
		return flashsale.ErrBanNotFound
	}
	if err != nil {
		return fmt.Errorf("delete ban %s: %w", sk, err)
	}
	return nil
}

// PutIPBan stores an IP ban, replacing the one with its ID.
func (s *Store) PutIPBan(ctx context.Context, b flashsale.IPBan) error {
	return s.putBan(ctx, banItem{PK: ipBanPK, SK: b.ID, CIDR: b.CIDR.String(), Reason: b.Reason,
		ExpiresAtMs: b.ExpiresAt.UnixMilli(), TTL: b.ExpiresAt.Unix()})
}

// IPBans lists the stored IP bans.
func (s *Store) IPBans(ctx context.Context) ([]flashsale.IPBan, error) {
	items, err := s.bans(ctx, ipBanPK)
	if err != nil {
		return nil, err
	}
	out := make([]flashsale.IPBan, 0, len(items))
	for _, it := range items {
		p, err := netip.ParsePrefix(it.CIDR)
		if err != nil {
			return nil, fmt.Errorf("ban %s: stored cidr %q: %w", it.SK, it.CIDR, err)
		}
		out = append(out, flashsale.IPBan{ID: it.SK, CIDR: p, ExpiresAt: fromMs(it.ExpiresAtMs), Reason: it.Reason})
	}
	return out, nil
}

// DeleteIPBan deletes an IP ban.
func (s *Store) DeleteIPBan(ctx context.Context, banID string, now time.Time) error {
	return s.deleteBan(ctx, ipBanPK, banID, now)
}

// PutUserBan stores a user ban, replacing the user's earlier one.
func (s *Store) PutUserBan(ctx context.Context, b flashsale.UserBan) error {
	return s.putBan(ctx, banItem{PK: userBanPK, SK: b.UserID, Reason: b.Reason,
		ExpiresAtMs: b.ExpiresAt.UnixMilli(), TTL: b.ExpiresAt.Unix()})
}

// UserBans lists the stored user bans.
func (s *Store) UserBans(ctx context.Context) ([]flashsale.UserBan, error) {
	items, err := s.bans(ctx, userBanPK)
	if err != nil {
		return nil, err
	}
	out := make([]flashsale.UserBan, 0, len(items))
	for _, it := range items {
		out = append(out, flashsale.UserBan{UserID: it.SK, ExpiresAt: fromMs(it.ExpiresAtMs), Reason: it.Reason})
	}
	return out, nil
}

// DeleteUserBan deletes a user's ban.
func (s *Store) DeleteUserBan(ctx context.Context, userID string, now time.Time) error {
	return s.deleteBan(ctx, userBanPK, userID, now)
}
