// Package redrive lets an operator look into the orders dead-letter queue and move
// its messages back to the orders queue once the cause is fixed.
//
// It is hand-written on SendMessage/DeleteMessage rather than SQS's own
// StartMessageMoveTask because that API does not exist in local-aws-sqs, and
// because a FIFO redrive must choose a fresh deduplication ID (see Redrive).
package redrive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/flashsale"
)

// API is the part of *sqs.Client this package calls.
type API interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Hold is how long List and Redrive keep received messages invisible: long
// enough to finish a batch, short enough that a crashed operator tool hides
// nothing for long. List makes them visible again at once when it is done.
const Hold = 30 * time.Second

// maxDedupID is SQS's limit on MessageDeduplicationId.
const maxDedupID = 128

// Message is one dead-lettered message.
type Message struct {
	MessageID    string
	GroupID      string
	ReceiveCount int
	SentAt       time.Time
	Body         string
	// Order is the decoded body; zero when the body is not an order message.
	Order flashsale.OrderMessage
	// DedupID is the message's MessageDeduplicationId, when SQS returns it.
	DedupID string

	receipt string
	attrs   map[string]types.MessageAttributeValue
}

// List returns up to max messages from the DLQ without removing them: it
// receives them with a short visibility timeout and then makes them visible
// again. Listing counts as a receive, so ReceiveCount grows by one each time
// (by two on local-aws-sqs, which also counts the visibility reset); the DLQ
// has no redrive policy, so nothing moves because of it.
//
// SQS FIFO hands out at most one batch of a message group at a time, so a
// group with more than 10 messages shows only its first 10.
func List(ctx context.Context, client API, dlqURL string, max int) (all []Message, err error) {
	defer func() { err = errors.Join(err, release(ctx, client, dlqURL, all)) }()
	for len(all) < max {
		msgs, err := receive(ctx, client, dlqURL, min(10, max-len(all)))
		if err != nil {
			return all, err
		}
		if len(msgs) == 0 {
			break
		}
		all = append(all, msgs...)
	}
	return all, nil
}

// Redrive moves up to max messages from the DLQ back to the orders queue and
// returns the ones it moved. Each message is sent with its MessageGroupId and
// body, then deleted from the DLQ only once the send succeeded, so a failure
// at any point loses nothing; at worst a message is on both queues, which is
// safe because the order writer is idempotent by order ID.
//
// The deduplication ID is "<orderId>-redrive-<DLQ message ID>": reusing the
// order ID alone would be dropped by FIFO dedup if the order was sent within
// the last 5 minutes, while running Redrive again after a failed delete
// resends with the same ID, so SQS drops the duplicate.
//
// Redrive stops at the first failed send: carrying on could deliver a
// group's later message before its earlier one.
func Redrive(ctx context.Context, client API, dlqURL, queueURL string, max int) ([]Message, error) {
	var moved []Message
	for len(moved) < max {
		msgs, err := receive(ctx, client, dlqURL, min(10, max-len(moved)))
		if err != nil {
			return moved, err
		}
		if len(msgs) == 0 {
			return moved, nil
		}
		for i, m := range msgs {
			if err := move(ctx, client, dlqURL, queueURL, m); err != nil {
				return moved, errors.Join(err, release(ctx, client, dlqURL, msgs[i:]))
			}
			moved = append(moved, m)
		}
	}
	return moved, nil
}

func move(ctx context.Context, client API, dlqURL, queueURL string, m Message) error {
	if m.GroupID == "" {
		return fmt.Errorf("redrive %s: the DLQ returned no MessageGroupId", m.MessageID)
	}
	_, err := client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:               aws.String(queueURL),
		MessageBody:            aws.String(m.Body),
		MessageGroupId:         aws.String(m.GroupID),
		MessageDeduplicationId: aws.String(RedriveDedupID(m)),
		MessageAttributes:      m.attrs,
	})
	if err != nil {
		return fmt.Errorf("redrive %s: send to %s: %w", m.MessageID, queueURL, err)
	}
	if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(dlqURL), ReceiptHandle: aws.String(m.receipt)}); err != nil {
		return fmt.Errorf("redrive %s: sent, but delete from the DLQ failed (a second redrive resends it; SQS dedup drops the copy within 5 minutes): %w", m.MessageID, err)
	}
	return nil
}

// RedriveDedupID is the deduplication ID Redrive sends m with: the order ID
// (or the original dedup ID, or the message ID) plus "-redrive-<message ID>",
// hashed when that would exceed SQS's 128 characters.
func RedriveDedupID(m Message) string {
	base := m.Order.OrderID
	if base == "" {
		base = m.DedupID
	}
	if base == "" {
		base = m.MessageID
	}
	id := base + "-redrive-" + m.MessageID
	if len(id) > maxDedupID {
		sum := sha256.Sum256([]byte(id))
		id = "redrive-" + hex.EncodeToString(sum[:])
	}
	return id
}

func receive(ctx context.Context, client API, url string, n int) ([]Message, error) {
	// WithAllAttributes: decode needs the group and the receive count.
	out, err := client.ReceiveMessage(ctx, awsclient.WithAllAttributes(&sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(url),
		MaxNumberOfMessages: int32(n),
		VisibilityTimeout:   int32(Hold / time.Second),
		// One second: local-aws-sqs waits the whole time unless the batch
		// fills, and a short poll on SQS may miss messages on other hosts.
		WaitTimeSeconds: 1,
	}))
	if err != nil {
		return nil, fmt.Errorf("receive from %s: %w", url, err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, decode(m))
	}
	return msgs, nil
}

func decode(m types.Message) Message {
	a := func(n types.MessageSystemAttributeName) string { return m.Attributes[string(n)] }
	out := Message{
		MessageID: aws.ToString(m.MessageId),
		GroupID:   a(types.MessageSystemAttributeNameMessageGroupId),
		DedupID:   a(types.MessageSystemAttributeNameMessageDeduplicationId),
		Body:      aws.ToString(m.Body),
		receipt:   aws.ToString(m.ReceiptHandle),
		attrs:     m.MessageAttributes,
	}
	out.ReceiveCount, _ = strconv.Atoi(a(types.MessageSystemAttributeNameApproximateReceiveCount))
	if ms, err := strconv.ParseInt(a(types.MessageSystemAttributeNameSentTimestamp), 10, 64); err == nil {
		out.SentAt = time.UnixMilli(ms).UTC()
	}
	// A body that is not an order message is still listed and moved; it
	// just has no order fields.
	_ = json.Unmarshal([]byte(out.Body), &out.Order)
	return out
}

// release makes msgs visible again, 10 per call. It runs even when ctx is
// cancelled: an interrupted command must still give its messages back.
func release(ctx context.Context, client API, url string, msgs []Message) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for chunk := range slices.Chunk(msgs, 10) {
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, m := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.receipt), VisibilityTimeout: 0,
			}
		}
		out, err := client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			errs = append(errs, fmt.Errorf("make messages visible again in %s: %w", url, err))
			continue
		}
		for _, f := range out.Failed {
			errs = append(errs, fmt.Errorf("make message visible again in %s: %s: %s", url, aws.ToString(f.Code), aws.ToString(f.Message)))
		}
	}
	return errors.Join(errs...)
}
