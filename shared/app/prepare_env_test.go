package app

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"flashsale/shared/awsclient"
	"flashsale/shared/ebscheduler"
	"flashsale/shared/lambdawarm"
	"flashsale/shared/snsnotifier"
	"flashsale/shared/warmup"
)

var prepareEnv = []string{
	awsclient.EnvScheduleGroup, awsclient.EnvSchedulerRole, awsclient.EnvWarmUpFunction, awsclient.EnvNotifierFunction,
	awsclient.EnvReserveFunction, awsclient.EnvReserveAlias, awsclient.EnvWarmBaseline, awsclient.EnvWarmCeiling,
	awsclient.EnvReminderTopic,
}

// setPrepareEnv clears every preparation variable, then sets env's.
func setPrepareEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, n := range prepareEnv {
		t.Setenv(n, env[n])
	}
}

// cfg builds clients without calling anything: prepareFromEnv makes no
// request.
var prepareCfg = aws.Config{Region: "us-east-1"}

func TestPrepareFromEnv_NothingSetBuildsNothing(t *testing.T) {
	setPrepareEnv(t, nil)
	var o Options
	if err := prepareFromEnv(prepareCfg, &o); err != nil {
		t.Fatal(err)
	}
	if o.Scheduler != nil || o.Notifier != nil || o.Provisioner != nil || o.Warm != (warmup.Config{}) {
		t.Errorf("got scheduler %v, notifier %v, provisioner %v, warm %+v; want none", o.Scheduler, o.Notifier, o.Provisioner, o.Warm)
	}
}

func TestPrepareFromEnv_EachFunctionGetsItsOwnPart(t *testing.T) {
	admin := map[string]string{
		awsclient.EnvScheduleGroup:    "flashsale-sales",
		awsclient.EnvSchedulerRole:    "arn:aws:iam::123456789012:role/scheduler",
		awsclient.EnvWarmUpFunction:   "arn:aws:lambda:us-east-1:123456789012:function:warm-up",
		awsclient.EnvNotifierFunction: "arn:aws:lambda:us-east-1:123456789012:function:notifier",
	}
	warm := map[string]string{
		awsclient.EnvReserveFunction: "flashsale-reserve", awsclient.EnvReserveAlias: "live",
		awsclient.EnvWarmBaseline: "5", awsclient.EnvWarmCeiling: "900",
	}
	notify := map[string]string{awsclient.EnvReminderTopic: "arn:aws:sns:us-east-1:123456789012:reminders"}

	setPrepareEnv(t, admin)
	var o Options
	if err := prepareFromEnv(prepareCfg, &o); err != nil {
		t.Fatalf("admin: %v", err)
	}
	if _, ok := o.Scheduler.(*ebscheduler.Scheduler); !ok || o.Notifier != nil || o.Provisioner != nil {
		t.Errorf("admin: scheduler %T, notifier %v, provisioner %v; want only the EventBridge scheduler", o.Scheduler, o.Notifier, o.Provisioner)
	}

	setPrepareEnv(t, warm)
	o = Options{}
	if err := prepareFromEnv(prepareCfg, &o); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	if _, ok := o.Provisioner.(*lambdawarm.Provisioner); !ok || o.Scheduler != nil || o.Notifier != nil {
		t.Errorf("warm-up: provisioner %T, scheduler %v, notifier %v; want only the Lambda provisioner", o.Provisioner, o.Scheduler, o.Notifier)
	}
	if want := (warmup.Config{Baseline: 5, Ceiling: 900}); o.Warm != want {
		t.Errorf("warm-up: config %+v, want %+v", o.Warm, want)
	}

	setPrepareEnv(t, notify)
	o = Options{}
	if err := prepareFromEnv(prepareCfg, &o); err != nil {
		t.Fatalf("notifier: %v", err)
	}
	if _, ok := o.Notifier.(*snsnotifier.Notifier); !ok || o.Scheduler != nil || o.Provisioner != nil {
		t.Errorf("notifier: notifier %T, scheduler %v, provisioner %v; want only the SNS notifier", o.Notifier, o.Scheduler, o.Provisioner)
	}
}

// TestPrepareFromEnv_GivenAdaptersWin: a caller's adapters (the local
// stack's) are kept, whatever the environment says.
func TestPrepareFromEnv_GivenAdaptersWin(t *testing.T) {
	setPrepareEnv(t, map[string]string{awsclient.EnvScheduleGroup: "half", awsclient.EnvReserveFunction: "half",
		awsclient.EnvReminderTopic: "arn:aws:sns:us-east-1:123456789012:reminders", awsclient.EnvWarmBaseline: "x"})
	sc, _ := ebscheduler.New(nil, ebscheduler.Config{Group: "g", RoleARN: "r", WarmUpARN: "w", NotifierARN: "n"}, nil)
	p, _ := lambdawarm.New(nil, "f", "a", nil)
	n, _ := snsnotifier.New(nil, "t")
	o := Options{Scheduler: sc, Provisioner: p, Notifier: n, Warm: warmup.Config{Baseline: 1}}
	if err := prepareFromEnv(prepareCfg, &o); err != nil {
		t.Fatal(err)
	}
	if o.Scheduler != sc || o.Provisioner != p || o.Notifier != n || o.Warm.Baseline != 1 {
		t.Errorf("options replaced: %+v", o)
	}
}

func TestPrepareFromEnv_Refuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // in the error
	}{
		{"schedule group without the rest", map[string]string{awsclient.EnvScheduleGroup: "g"},
			[]string{awsclient.EnvSchedulerRole, awsclient.EnvWarmUpFunction, awsclient.EnvNotifierFunction}},
		{"schedule group without the notifier", map[string]string{awsclient.EnvScheduleGroup: "g", awsclient.EnvSchedulerRole: "r", awsclient.EnvWarmUpFunction: "w"},
			[]string{"without " + awsclient.EnvNotifierFunction}},
		{"reserve function without alias", map[string]string{awsclient.EnvReserveFunction: "flashsale-reserve"},
			[]string{"without " + awsclient.EnvReserveAlias}},
		{"alias without function", map[string]string{awsclient.EnvReserveAlias: "live"},
			[]string{"without " + awsclient.EnvReserveFunction}},
		{"baseline not a number", map[string]string{awsclient.EnvWarmBaseline: "five"}, []string{awsclient.EnvWarmBaseline, `"five"`}},
		{"ceiling negative", map[string]string{awsclient.EnvWarmCeiling: "-1"}, []string{awsclient.EnvWarmCeiling, `"-1"`}},
		{"ceiling fractional", map[string]string{awsclient.EnvWarmCeiling: "2.5"}, []string{awsclient.EnvWarmCeiling}},
		{"baseline over ceiling", map[string]string{awsclient.EnvWarmBaseline: "50", awsclient.EnvWarmCeiling: "10"},
			[]string{awsclient.EnvWarmBaseline + "=50", awsclient.EnvWarmCeiling + "=10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setPrepareEnv(t, tc.env)
			var o Options
			err := prepareFromEnv(prepareCfg, &o)
			if err == nil {
				t.Fatalf("got nil error, want one naming %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}
