package devstack

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/livestats"
	"flashsale/shared/local/prepare"
	"flashsale/shared/warmup"
)

// ScheduleEvery is how often the dev stack looks for due preparation
// schedules; EventBridge Scheduler's one-time schedules fire to the minute,
// so a second is closer than needed.
const ScheduleEvery = time.Second

// buildPreparation makes the local stand-ins for EventBridge Scheduler, the
// reserve alias's provisioned concurrency and SNS, all on Config.Now.
func (s *Stack) buildPreparation(ctx context.Context, store flashsale.Store) (err error) {
	c := s.cfg
	s.Schedules, err = prepare.New(prepare.Config{Now: c.Now, Path: filepath.Join(c.StateDir, prepare.SchedulesFile), Log: s.log})
	if err != nil {
		return err
	}
	// Schedules persist in the state folder, sales only with --data: those
	// of sales gone with an in-memory DynamoDB Local would only fail.
	dropped, err := s.Schedules.DropSales(ctx, func(ctx context.Context, id string) (bool, error) {
		_, err := store.Sale(ctx, id)
		if errors.Is(err, flashsale.ErrSaleNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return err
	}
	if dropped > 0 {
		s.log.Info("dropped the persisted schedules of sales that no longer exist", "schedules", dropped)
	}
	s.Provisioned = prepare.NewRecorder(0, c.Now)
	s.Outbox = prepare.NewOutbox(filepath.Join(c.StateDir, prepare.OutboxFile), c.Now)
	return nil
}

// bindPreparation points the schedules at the app's warm-up and notifier
// handlers, each within its function's timeout as its Lambda would run,
// and serves the control port.
func (s *Stack) bindPreparation(ctx context.Context) error {
	warm, err := apispec.FunctionNamed(apispec.FunctionWarmUp)
	if err != nil {
		return err
	}
	notify, err := apispec.FunctionNamed(apispec.FunctionNotifier)
	if err != nil {
		return err
	}
	s.Schedules.Bind(prepare.Targets{
		WarmUp: func(ctx context.Context, sc flashsale.Schedule) (warmup.Target, error) {
			ctx, cancel := context.WithTimeout(ctx, warm.Timeout)
			defer cancel()
			return s.App.WarmUp(ctx, sc)
		},
		Remind: func(ctx context.Context, sc flashsale.Schedule) (flashsale.RemindStats, error) {
			ctx, cancel := context.WithTimeout(ctx, notify.Timeout)
			defer cancel()
			return s.App.Remind(ctx, sc)
		},
	})
	// Provisioned concurrency starts at the baseline on every start, while
	// persisted schedules may have warmed sales that still run: reconcile
	// once, as the next warm-up would. A fresh state folder has nothing to
	// restore, and its stack makes no store call here.
	if len(s.Schedules.Entries()) > 0 {
		if _, err := s.App.WarmUp(ctx, flashsale.Schedule{Name: "dev-stack-start"}); err != nil {
			s.log.Warn("provisioned concurrency not reconciled at start; the next warm-up or cool-down will", "err", err)
		}
	}
	s.control = &http.Server{ReadHeaderTimeout: 10 * time.Second}
	s.control.Handler = s.controlHandler(prepare.NewControl(s.Schedules, s.Provisioned, s.cfg.Now))
	ln := s.controlLn
	go func() {
		if err := s.control.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("control port stopped", "err", err)
		}
	}()
	s.log.Info("control port: the preparation schedules and provisioned concurrency", "url", s.ControlURL,
		"schedules", s.ControlURL+"/schedules", "provisioned", s.ControlURL+"/provisioned", "live view", s.ControlURL+livestats.Path)
	return nil
}
