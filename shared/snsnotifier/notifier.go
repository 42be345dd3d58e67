// Package snsnotifier delivers sale reminders by publishing them to an SNS
// topic, one message per subscriber. The mobile team's fan-out (or a
// subscription's filter policy) routes each to that user's devices by its
// userId attribute.
package snsnotifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"flashsale/shared/flashsale"
)

// Message attribute names: a subscription filter policy matches on them
// without parsing the body.
const (
	AttrUserID = "userId"
	AttrSaleID = "saleId"
)

// API is the part of the SNS API a Notify calls; *sns.Client implements it.
type API interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ API = (*sns.Client)(nil)

// Notifier is flashsale.Notifier over an SNS topic.
type Notifier struct {
	api      API
	topicARN string
}

var _ flashsale.Notifier = (*Notifier)(nil)

// New returns a Notifier that publishes to the topic.
func New(api API, topicARN string) (*Notifier, error) {
	if topicARN == "" {
		return nil, errors.New("snsnotifier: no topic ARN")
	}
	return &Notifier{api: api, topicARN: topicARN}, nil
}

// Notify publishes one reminder: the body is the ReminderMessage's JSON
// and the attributes carry its user and sale IDs. It sends the same body to
// every protocol (no MessageStructure "json"): the subscribers are
// programs (the fan-out, a queue) that parse it, and a per-protocol
// payload with a human "default" text would only serve email or SMS
// subscriptions, which must not receive every user's reminder anyway.
// Errors are SNS's (NotFoundException for a missing topic, throttling
// after the SDK's retries), wrapped with the user and sale.
func (n *Notifier) Notify(ctx context.Context, m flashsale.ReminderMessage) error {
	// SNS refuses an attribute with an empty value, and a reminder
	// without a user could reach nobody.
	if m.UserID == "" || m.SaleID == "" {
		return fmt.Errorf("notify: reminder without a user or sale ID: %+v", m)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("notify %s of %s: %w", m.UserID, m.SaleID, err)
	}
	_, err = n.api.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(n.topicARN),
		Message:  aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrUserID: {DataType: aws.String("String"), StringValue: aws.String(m.UserID)},
			AttrSaleID: {DataType: aws.String("String"), StringValue: aws.String(m.SaleID)},
		},
	})
	if err != nil {
		return fmt.Errorf("notify %s of %s: %w", m.UserID, m.SaleID, err)
	}
	return nil
}
