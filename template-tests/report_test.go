package templatetests

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"testing"

	"flashsale/infra"
	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/reportfmt"
	"flashsale/shared/s3reports"
)

// reportsBucket is the one S3 bucket: the reports bucket.
func reportsBucket(tb testing.TB, b *built) (string, map[string]any) {
	tb.Helper()
	return only(tb, b, "AWS::S3::Bucket")
}

// jsonEqual compares a template value with a Go literal through JSON.
func jsonEqual(tb testing.TB, got, want any) bool {
	tb.Helper()
	var g, w any
	for _, p := range []struct {
		v   any
		dst *any
	}{{got, &g}, {want, &w}} {
		raw, err := json.Marshal(p.v)
		if err != nil {
			tb.Fatal(err)
		}
		if err := json.Unmarshal(raw, p.dst); err != nil {
			tb.Fatal(err)
		}
	}
	return reflect.DeepEqual(g, w)
}

// TestReports_Bucket: versioned, S3-managed encryption, every public
// access blocked, ACLs off, and prod retains it like the tables.
func TestReports_Bucket(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		id, r := reportsBucket(t, b)
		p := props(r)
		checks := []struct {
			name string
			want any
		}{
			{"VersioningConfiguration", map[string]any{"Status": "Enabled"}},
			{"BucketEncryption", map[string]any{"ServerSideEncryptionConfiguration": []any{
				map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}}},
			{"PublicAccessBlockConfiguration", map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true,
				"IgnorePublicAcls": true, "RestrictPublicBuckets": true}},
			{"OwnershipControls", map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}}},
		}
		for _, c := range checks {
			if !jsonEqual(t, p[c.name], c.want) {
				t.Errorf("%s: %s = %v, want %v", id, c.name, p[c.name], c.want)
			}
		}
		if b.stage == "prod" {
			retained(t, id, r)
		} else if r["DeletionPolicy"] != "Delete" {
			t.Errorf("dev %s: DeletionPolicy %v, want Delete (dev's data goes with the stack)", id, r["DeletionPolicy"])
		}
	})
}

// TestReports_Lifecycle: report files, current and superseded, move to
// Glacier Instant Retrieval after 90 days; no version ever expires.
func TestReports_Lifecycle(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		id, r := reportsBucket(t, b)
		want := map[string]any{"Rules": []any{map[string]any{
			"Id": "archive-reports", "Status": "Enabled", "Prefix": s3reports.Prefix,
			"Transitions":                    []any{map[string]any{"StorageClass": "GLACIER_IR", "TransitionInDays": infra.ReportsArchiveAfterDays}},
			"NoncurrentVersionTransitions":   []any{map[string]any{"StorageClass": "GLACIER_IR", "TransitionInDays": infra.ReportsArchiveAfterDays}},
			"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 7},
		}}}
		if got := props(r)["LifecycleConfiguration"]; !jsonEqual(t, got, want) {
			got, _ := json.Marshal(got)
			t.Errorf("%s: LifecycleConfiguration %s, want %v", id, got, want)
		}
	})
}

// TestReports_TLSOnly: the bucket policy denies every request not over
// TLS, on the bucket and its objects.
func TestReports_TLSOnly(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		bucket, _ := reportsBucket(t, b)
		var found bool
		for _, pol := range ofType(b, "AWS::S3::BucketPolicy") {
			if ref(props(pol)["Bucket"]) != bucket {
				continue
			}
			doc, _ := props(pol)["PolicyDocument"].(map[string]any)
			for _, s := range doc["Statement"].([]any) {
				st := s.(map[string]any)
				if st["Effect"] != "Deny" || !jsonEqual(t, st["Condition"], map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}) {
					continue
				}
				if !jsonEqual(t, st["Principal"], map[string]any{"AWS": "*"}) || !slices.Equal(strs(st["Action"]), []string{"s3:*"}) {
					t.Errorf("TLS statement %v: want every principal and action denied", st)
				}
				var onBucket, onObjects bool
				for _, res := range st["Resource"].([]any) {
					if ref(res) == bucket {
						onBucket = true
					}
					if raw, _ := json.Marshal(res); !onObjects {
						id, suffix := arnJoin(string(raw))
						onObjects = id == bucket && suffix == "/*"
					}
				}
				found = onBucket && onObjects
			}
		}
		if !found {
			t.Errorf("no bucket policy denies non-TLS requests on %s and its objects", bucket)
		}
	})
}

// s3Grant is one S3 action a role allows, on the bucket ("") or on a key
// pattern of it ("/sales/*"), with its condition.
type s3Grant struct {
	action, on, condition string
}

// s3Grants returns what the role with logical ID role may do on the
// reports bucket, sorted.
func s3Grants(tb testing.TB, b *built, role string) []s3Grant {
	tb.Helper()
	bucket, _ := reportsBucket(tb, b)
	var out []s3Grant
	for _, s := range statements(b) {
		if s.role != role || s.effect != "Allow" {
			continue
		}
		cond := ""
		if s.condition != nil {
			raw, _ := json.Marshal(s.condition)
			cond = string(raw)
		}
		for _, r := range s.resources {
			on, ok := "", refOfResource(r) == bucket
			if id, suffix := arnJoin(r); id == bucket {
				on, ok = suffix, true
			}
			for _, a := range s.actions {
				if ok || (len(a) > 3 && a[:3] == "s3:") {
					out = append(out, s3Grant{a, on, cond})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].action+out[i].on < out[j].action+out[j].on })
	return out
}

const salesPrefixCondition = `{"StringLike":{"s3:prefix":"sales/*"}}`

// TestReports_FunctionGrants: settlement may only put report files;
// admin may put and get them, and list the report prefix (so a missing
// file is a 404); no other function may touch the bucket, and no one may
// delete.
func TestReports_FunctionGrants(t *testing.T) {
	want := map[string][]s3Grant{
		apispec.FunctionSettlement: {{"s3:PutObject", "/sales/*", ""}},
		apispec.FunctionAdmin: {
			{"s3:GetObject", "/sales/*", ""},
			{"s3:ListBucket", "", ""}, // no s3:prefix: a GET of a missing file has none
			{"s3:PutObject", "/sales/*", ""},
		},
	}
	eachStack(t, func(t *testing.T, b *built) {
		for _, name := range apispec.FunctionNames() {
			got := s3Grants(t, b, ref(function(t, b, name)["Role"]))
			if !slices.Equal(got, want[name]) {
				t.Errorf("%s: S3 grants %+v, want %+v", name, got, want[name])
			}
		}
	})
}

// TestReports_BucketEnv: REPORTS_BUCKET names the bucket on the two
// functions that use it, and on no other.
func TestReports_BucketEnv(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		bucket, _ := reportsBucket(t, b)
		for _, name := range apispec.FunctionNames() {
			env, _ := function(t, b, name)["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			v, has := vars[awsclient.EnvReportsBucket]
			wantHas := name == apispec.FunctionAdmin || name == apispec.FunctionSettlement
			switch {
			case has != wantHas:
				t.Errorf("%s: %s set %v, want %v", name, awsclient.EnvReportsBucket, has, wantHas)
			case has && ref(v) != bucket:
				t.Errorf("%s: %s = %v, want a Ref to %s", name, awsclient.EnvReportsBucket, v, bucket)
			}
		}
	})
}

// TestReports_BinaryMediaTypes: API Gateway decodes the base64 XLSX the
// report routes answer, and only that type is binary.
func TestReports_BinaryMediaTypes(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		_, api := only(t, b, "AWS::ApiGateway::RestApi")
		if got := strs(props(api)["BinaryMediaTypes"]); !slices.Equal(got, []string{reportfmt.TypeXLSX}) {
			t.Errorf("BinaryMediaTypes %v, want [%s]", got, reportfmt.TypeXLSX)
		}
	})
}

// TestReports_FinanceReader: the role exists only when a principal is
// given; that principal alone may assume it, and it may read and list
// report files and their versions, nothing else.
func TestReports_FinanceReader(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		var role string
		var r map[string]any
		for id, res := range ofType(b, "AWS::IAM::Role") {
			if props(res)["RoleName"] == infra.FinanceReaderRoleName(b.stage) {
				role, r = id, res
			}
		}
		if b.props.FinanceReaderPrincipal == "" {
			if role != "" {
				t.Errorf("%s exists without a financeReaderPrincipal", role)
			}
			return
		}
		if role == "" {
			t.Fatalf("no role %s, though financeReaderPrincipal is %s", infra.FinanceReaderRoleName(b.stage), b.props.FinanceReaderPrincipal)
		}
		trust := props(r)["AssumeRolePolicyDocument"].(map[string]any)["Statement"].([]any)
		wantTrust := []any{map[string]any{"Action": "sts:AssumeRole", "Effect": "Allow",
			"Principal": map[string]any{"AWS": b.props.FinanceReaderPrincipal}}}
		if !jsonEqual(t, trust, wantTrust) {
			t.Errorf("trust policy %v, want only %s", trust, b.props.FinanceReaderPrincipal)
		}
		want := []s3Grant{
			{"s3:GetObject", "/sales/*", ""},
			{"s3:GetObjectVersion", "/sales/*", ""},
			{"s3:ListBucket", "", salesPrefixCondition},
			{"s3:ListBucketVersions", "", salesPrefixCondition},
		}
		if got := s3Grants(t, b, role); !slices.Equal(got, want) {
			t.Errorf("finance grants %+v, want %+v", got, want)
		}
		var others []string
		for _, s := range statements(b) {
			if s.role == role {
				for _, a := range s.actions {
					if len(a) < 3 || a[:3] != "s3:" {
						others = append(others, a)
					}
				}
			}
		}
		if len(others) > 0 {
			t.Errorf("finance role also allows %v, want S3 reads only", others)
		}
	})
}
