package templatetests

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"flashsale/infra"
)

func TestPropsFromContext(t *testing.T) {
	tests := []struct {
		name    string
		context map[string]any
		want    infra.FlashSaleStackProps
		wantErr string
	}{
		{name: "empty", context: map[string]any{}, want: infra.FlashSaleStackProps{}},
		{
			name: "cli strings",
			context: map[string]any{
				"stage": "prod", "alarmEmail": "ops@example.com", "reservedConcurrency": "600",
				"provisionedConcurrency": "100", "warmThroughput": "40000:20000", "orderWriterMaxConcurrency": "20", "fifoGroups": "128",
				"prepareLead": "15m",
			},
			want: infra.FlashSaleStackProps{
				Stage: "prod", AlarmEmail: "ops@example.com", ReservedConcurrency: 600, ProvisionedConcurrency: 100,
				WarmThroughput:            &infra.WarmThroughput{ReadUnitsPerSecond: 40000, WriteUnitsPerSecond: 20000},
				OrderWriterMaxConcurrency: 20, FIFOGroups: 128, PrepareLead: 15 * time.Minute,
			},
		},
		{name: "cdk.json numbers", context: map[string]any{"reservedConcurrency": 300}, want: infra.FlashSaleStackProps{ReservedConcurrency: 300}},
		{name: "bad number", context: map[string]any{"reservedConcurrency": "lots"}, wantErr: "reservedConcurrency"},
		{name: "bad warm throughput", context: map[string]any{"warmThroughput": "40000"}, wantErr: "READ:WRITE"},
		{name: "bad prepare lead", context: map[string]any{"prepareLead": "10"}, wantErr: "prepareLead"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.context
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
			got, err := infra.PropsFromContext(app.Node())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

// TestNewFlashSaleStack_RejectsBadProps checks the constructor fails early,
// with a message naming the problem, before any jsii call.
func TestNewFlashSaleStack_RejectsBadProps(t *testing.T) {
	assets := t.TempDir()
	if err := writePlaceholderAssets(assets); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		props   infra.FlashSaleStackProps
		wantErr string
	}{
		{name: "unknown stage", props: infra.FlashSaleStackProps{Stage: "qa", AssetRoot: assets}, wantErr: "unknown stage"},
		{name: "provisioned above reserved", props: infra.FlashSaleStackProps{ReservedConcurrency: 10, ProvisionedConcurrency: 11, AssetRoot: assets}, wantErr: "provisionedConcurrency"},
		{name: "writer concurrency below SQS minimum", props: infra.FlashSaleStackProps{OrderWriterMaxConcurrency: 1, AssetRoot: assets}, wantErr: "orderWriterMaxConcurrency"},
		{name: "warm throughput zero", props: infra.FlashSaleStackProps{WarmThroughput: &infra.WarmThroughput{}, AssetRoot: assets}, wantErr: "warmThroughput"},
		{name: "prepare lead under a minute", props: infra.FlashSaleStackProps{PrepareLead: 30 * time.Second, AssetRoot: assets}, wantErr: "prepareLead"},
		{name: "prepare lead over two hours", props: infra.FlashSaleStackProps{PrepareLead: 10 * time.Hour, AssetRoot: assets}, wantErr: "prepareLead"},
		{name: "missing assets", props: infra.FlashSaleStackProps{AssetRoot: filepath.Join(assets, "nope")}, wantErr: "run make build first"},
	}
	app := awscdk.NewApp(nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				err, _ := r.(error)
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got panic %v, want an error mentioning %q", r, tc.wantErr)
				}
			}()
			infra.NewFlashSaleStack(app, "Bad"+strings.ReplaceAll(tc.name, " ", ""), &tc.props)
		})
	}
}
