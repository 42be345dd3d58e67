// Package ebscheduler keeps a sale's preparation jobs
// (flashsale.SchedulesFor) as EventBridge Scheduler one-time schedules:
// at(...) in UTC, no flexible window, deleted by the service once fired.
package ebscheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"flashsale/shared/flashsale"
)

// MinDelay is how far in the future a schedule is put at the earliest.
// EventBridge Scheduler makes no promise for an at() already past: some
// report CreateSchedule refusing it (ValidationException), and the docs
// only describe deletion after the target was invoked, so a past one-time
// schedule may never fire and never delete itself. A sale created within
// its lead (or re-created late) must still warm up and remind, which is
// the port's contract ("fires as soon as it can"), so a time before now +
// MinDelay is moved to now + MinDelay: a minute covers the service's
// 60-second precision and a slow request.
const MinDelay = time.Minute

// RetryPolicy is how long and how often the service retries a delivery to
// a target that failed (throttling, the function unavailable):
// flashsale.ScheduleRetries within flashsale.ScheduleRetryWindow, spread
// over it with the service's backoff.
var RetryPolicy = types.RetryPolicy{
	MaximumEventAgeInSeconds: aws.Int32(int32(flashsale.ScheduleRetryWindow / time.Second)),
	MaximumRetryAttempts:     aws.Int32(flashsale.ScheduleRetries),
}

// atLayout is at()'s form; the zone is given apart, as
// ScheduleExpressionTimezone.
const atLayout = "2006-01-02T15:04:05"

// API is the part of the EventBridge Scheduler API a Put calls;
// *scheduler.Client implements it.
type API interface {
	CreateSchedule(ctx context.Context, in *scheduler.CreateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.CreateScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *scheduler.UpdateScheduleInput, optFns ...func(*scheduler.Options)) (*scheduler.UpdateScheduleOutput, error)
}

var _ API = (*scheduler.Client)(nil)

// Config says where the schedules go and what they invoke.
type Config struct {
	// Group is the schedule group the schedules are created in.
	Group string
	// RoleARN is the role the service assumes to invoke the targets.
	RoleARN string
	// WarmUpARN is the warm-up function, target of the warm-up and
	// cool-down jobs; NotifierARN the notifier function, target of remind.
	WarmUpARN, NotifierARN string
}

// Scheduler is flashsale.Scheduler over EventBridge Scheduler.
type Scheduler struct {
	api API
	cfg Config
	now func() time.Time
}

var _ flashsale.Scheduler = (*Scheduler)(nil)

// New returns a Scheduler; every field of cfg is required. now is the
// clock the past-time clamp reads (nil: time.Now).
func New(api API, cfg Config, now func() time.Time) (*Scheduler, error) {
	for _, f := range []struct{ name, v string }{{"group", cfg.Group}, {"role ARN", cfg.RoleARN}, {"warm-up function ARN", cfg.WarmUpARN}, {"notifier function ARN", cfg.NotifierARN}} {
		if f.v == "" {
			return nil, fmt.Errorf("ebscheduler: no %s", f.name)
		}
	}
	if now == nil {
		now = time.Now
	}
	return &Scheduler{api: api, cfg: cfg, now: now}, nil
}

// Put creates each schedule, or replaces it when one of that name exists
// (ConflictException), so putting the same list again is safe. It stops at
// the first failure, returning the service's error wrapped with the
// schedule's name; the caller's retry puts the whole list again.
func (s *Scheduler) Put(ctx context.Context, schedules []flashsale.Schedule) error {
	for _, sc := range schedules {
		if err := s.put(ctx, sc); err != nil {
			return fmt.Errorf("put schedule %s: %w", sc.Name, err)
		}
	}
	return nil
}

func (s *Scheduler) put(ctx context.Context, sc flashsale.Schedule) error {
	target, err := s.target(sc)
	if err != nil {
		return err
	}
	// The at() is clamped; the input keeps the time the job was meant for.
	expr := "at(" + s.fireAt(sc.At).Format(atLayout) + ")"
	desc := fmt.Sprintf("flashsale %s of sale %s", sc.Job, sc.SaleID)
	_, err = s.api.CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name:                       aws.String(sc.Name),
		GroupName:                  aws.String(s.cfg.Group),
		Description:                aws.String(desc),
		ScheduleExpression:         aws.String(expr),
		ScheduleExpressionTimezone: aws.String("UTC"),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		ActionAfterCompletion:      types.ActionAfterCompletionDelete,
		State:                      types.ScheduleStateEnabled,
		Target:                     target,
	})
	if _, ok := errors.AsType[*types.ConflictException](err); !ok {
		return err
	}
	// UpdateSchedule replaces every setting, so it gets them all again.
	_, err = s.api.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{
		Name:                       aws.String(sc.Name),
		GroupName:                  aws.String(s.cfg.Group),
		Description:                aws.String(desc),
		ScheduleExpression:         aws.String(expr),
		ScheduleExpressionTimezone: aws.String("UTC"),
		FlexibleTimeWindow:         &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff},
		ActionAfterCompletion:      types.ActionAfterCompletionDelete,
		State:                      types.ScheduleStateEnabled,
		Target:                     target,
	})
	return err
}

// fireAt is the time the schedule is put at: at, or MinDelay from now if
// that is later. at() counts whole seconds, so a clamped time rounds up.
func (s *Scheduler) fireAt(at time.Time) time.Time {
	at = at.UTC()
	earliest := s.now().UTC().Add(MinDelay)
	if at.Before(earliest) {
		at = earliest.Add(time.Second - 1).Truncate(time.Second)
	}
	return at
}

// target is the function a job invokes, with the schedule as its input.
func (s *Scheduler) target(sc flashsale.Schedule) (*types.Target, error) {
	var arn string
	switch sc.Job {
	case flashsale.JobWarmUp, flashsale.JobCoolDown:
		arn = s.cfg.WarmUpARN
	case flashsale.JobRemind:
		arn = s.cfg.NotifierARN
	default:
		return nil, fmt.Errorf("unknown job %q", sc.Job)
	}
	input, err := json.Marshal(sc)
	if err != nil {
		return nil, err
	}
	retry := RetryPolicy
	return &types.Target{Arn: aws.String(arn), RoleArn: aws.String(s.cfg.RoleARN), Input: aws.String(string(input)), RetryPolicy: &retry}, nil
}
