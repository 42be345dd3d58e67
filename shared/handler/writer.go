package handler

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
)

// NewOrderWriter consumes batches from the orders FIFO queue. FIFO order
// matters within a message group, so at the first failure it stops and
// reports that message and every later one; Lambda (or the local poller)
// deletes only the ones before it. The event source mapping must enable
// ReportBatchItemFailures, or this response is ignored.
func NewOrderWriter(svc *flashsale.Service, log *slog.Logger) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for i, rec := range ev.Records {
			err := svc.PersistOrder(ctx, []byte(rec.Body))
			if err == nil {
				continue
			}
			level := slog.LevelWarn
			if errors.Is(err, flashsale.ErrPoison) {
				level = slog.LevelError // it will end in the DLQ and page someone
			}
			log.Log(ctx, level, "order message failed; it and the rest of the batch will be retried",
				"messageId", rec.MessageId, "err", err, "retried", len(ev.Records)-i)
			for _, later := range ev.Records[i:] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: later.MessageId})
			}
			break
		}
		return resp, nil
	}
}

// NewSettlement is the scheduled settlement run over every recent sale.
func NewSettlement(svc *flashsale.Service, log *slog.Logger) func(context.Context, events.EventBridgeEvent) error {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) error {
		log.InfoContext(ctx, "settlement run", "eventId", ev.ID, "time", ev.Time)
		return svc.SettleAll(ctx)
	}
}
