package handler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/flashsale"
)

// DeadLetterQueue is where the order writer sets poison messages aside: the
// orders FIFO dead-letter queue (sqsqueue.DeadLetter).
type DeadLetterQueue interface {
	// SetAside sends body to the dead-letter queue in message group group,
	// deduplicated by id (the message's own ID, so setting one message aside
	// twice stores it once), with reason attached for whoever reads it. An
	// error means it may not have been sent.
	SetAside(ctx context.Context, group, id, body, reason string) error
}

// PoisonCounter counts poison messages set aside (an EMF metric in Lambda,
// metric.EMF).
type PoisonCounter interface {
	Poisoned(ctx context.Context, messageID string)
}

// WriterOption configures NewOrderWriter.
type WriterOption func(*writer)

// WithDeadLetters makes the writer set poison messages aside in dlq at
// once, counted by metrics (which may be nil), instead of leaving them to
// the queue's redrive policy.
func WithDeadLetters(dlq DeadLetterQueue, metrics PoisonCounter) WriterOption {
	return func(w *writer) { w.dlq, w.metrics = dlq, metrics }
}

type writer struct {
	svc     *flashsale.Service
	log     *slog.Logger
	dlq     DeadLetterQueue
	metrics PoisonCounter
}

// messageGroupID is the SQS system attribute of a FIFO message's group.
const messageGroupID = "MessageGroupId"

// NewOrderWriter consumes batches from the orders FIFO queue.
//
// A poison message (one that can never be processed: undecodable or
// invalid, flashsale.ErrPoison) is sent straight to the dead-letter queue
// given WithDeadLetters, in the message group it came in, and acknowledged, so its
// group moves on at once instead of waiting out maxReceiveCount receives of
// the visibility timeout each (5 × 180 s). It is logged at error and
// counted.
//
// Any other failure is transient. FIFO order matters within a message
// group, so at the first one it stops and reports that message and every
// later one; Lambda (or the local poller) deletes only the ones before it.
// A poison message that cannot be set aside (no dead-letter queue, or the
// send failed) is reported the same way, and the redrive policy moves it
// later. The event source mapping must enable ReportBatchItemFailures, or
// this response is ignored.
func NewOrderWriter(svc *flashsale.Service, log *slog.Logger, opts ...WriterOption) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	if log == nil {
		log = slog.Default()
	}
	w := &writer{svc: svc, log: log}
	for _, o := range opts {
		o(w)
	}
	return w.handle
}

func (w *writer) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for i, rec := range ev.Records {
		err := w.svc.PersistOrder(ctx, []byte(rec.Body))
		if err == nil {
			continue
		}
		level := slog.LevelWarn
		if errors.Is(err, flashsale.ErrPoison) {
			if w.setAside(ctx, rec, err) {
				continue
			}
			level = slog.LevelError // it will end in the DLQ and page someone
		}
		w.log.Log(ctx, level, "order message failed; it and the rest of the batch will be retried",
			"messageId", rec.MessageId, "err", err, "retried", len(ev.Records)-i)
		for _, later := range ev.Records[i:] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: later.MessageId})
		}
		break
	}
	return resp, nil
}

// setAside sends a poison message to the dead-letter queue and reports
// whether it got there, so it can be acknowledged.
func (w *writer) setAside(ctx context.Context, rec events.SQSMessage, poison error) bool {
	if w.dlq == nil {
		return false
	}
	group := rec.Attributes[messageGroupID]
	if group == "" {
		w.log.ErrorContext(ctx, "poison order message has no message group; leaving it to the redrive policy",
			"messageId", rec.MessageId, "err", poison)
		return false
	}
	if err := w.dlq.SetAside(ctx, group, rec.MessageId, rec.Body, poison.Error()); err != nil {
		w.log.ErrorContext(ctx, "poison order message could not be set aside; leaving it to the redrive policy",
			"messageId", rec.MessageId, "group", group, "err", poison, "sendErr", err)
		return false
	}
	w.log.ErrorContext(ctx, "poison order message set aside in the dead-letter queue; its group moves on",
		"messageId", rec.MessageId, "group", group, "err", poison)
	if w.metrics != nil {
		w.metrics.Poisoned(ctx, rec.MessageId)
	}
	return true
}

// ScheduledSettleMargin is what the scheduled run leaves of its Lambda's
// time: a pass stops at a safe point before its deadline, and a store call
// hung past it is cut there, so the lease's release (up to 2 s, on a
// context of its own) still runs before Lambda ends the invocation, which
// would skip it and strand the lease for its 5 minutes.
const ScheduledSettleMargin = 5 * time.Second

// NewSettlement is the scheduled settlement run over every recent sale.
// A run cut by its deadline is not a failure: the next run (a minute
// later) goes on from where it stopped.
func NewSettlement(svc *flashsale.Service, log *slog.Logger) func(context.Context, events.EventBridgeEvent) error {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) error {
		log.InfoContext(ctx, "settlement run", "eventId", ev.ID, "time", ev.Time)
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-ScheduledSettleMargin))
			defer cancel()
		}
		err := svc.SettleAll(ctx)
		if errors.Is(err, flashsale.ErrSettlementIncomplete) {
			log.WarnContext(ctx, "settlement run cut by its deadline; the next run goes on", "err", err)
			return nil
		}
		return err
	}
}
