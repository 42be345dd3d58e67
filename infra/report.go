package infra

import (
	"fmt"
	"regexp"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/s3reports"
)

// ReportsArchiveAfterDays is when a report file, current or superseded,
// moves to Glacier Instant Retrieval: finance reads a sale's report in the
// weeks after it, rarely later, and Instant Retrieval still answers a GET
// (and a presigned link) in milliseconds, at about a fifth of Standard's
// storage price. Its 90-day minimum matches this age.
const ReportsArchiveAfterDays = 90

// FinanceReaderRoleName is the role finance assumes to read the bucket
// directly (docs/deploy.md, "Reports bucket"); it exists only when the
// stack is given a FinanceReaderPrincipal.
func FinanceReaderRoleName(stage string) string {
	return "flashsale-" + stage + "-FinanceReportsReader"
}

// reports is the reports bucket and what reads it.
type reports struct {
	bucket awss3.Bucket
	// finance is the FinanceReportsReader role, or nil.
	finance awsiam.Role
}

// reportObjects is the IAM resource of every report file: the prefix
// s3reports writes under, never the whole bucket.
func (r *reports) reportObjects() *string {
	return r.bucket.ArnForObjects(jsii.String(s3reports.Prefix + "*"))
}

// newReports adds the bucket that keeps every settlement report version
// (shared/s3reports) and gives the functions that publish and serve them
// what they need.
func (s *stack) newReports(f *functions) *reports {
	r := &reports{}
	glacierIR := []*awss3.Transition{{
		StorageClass:    awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(),
		TransitionAfter: awscdk.Duration_Days(jsii.Number(ReportsArchiveAfterDays)),
	}}
	r.bucket = awss3.NewBucket(s.st, jsii.String("Reports"), &awss3.BucketProps{
		// Every settlement that changes a report writes a new version of
		// its files; the versions are the report's history (and survive an
		// overwrite or a delete by mistake).
		Versioned: jsii.Bool(true),
		// S3-managed keys (SSE-S3), as the tables and queues use AWS-owned
		// keys: nothing to pay for, rotate or grant, and a presigned link
		// works for whoever holds it. A KMS key would add a second gate
		// (kms:Decrypt) and a key policy to keep in step with every reader,
		// for data the bucket policy and IAM already confine.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		// Deny any request not over TLS, presigned links included.
		EnforceSSL:      jsii.Bool(true),
		ObjectOwnership: awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:          jsii.String("archive-reports"),
			Prefix:      jsii.String(s3reports.Prefix),
			Transitions: &glacierIR,
			NoncurrentVersionTransitions: &[]*awss3.NoncurrentVersionTransition{{
				StorageClass:    awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(),
				TransitionAfter: awscdk.Duration_Days(jsii.Number(ReportsArchiveAfterDays)),
			}},
			// PutObject is single-part, but a failed upload must never
			// linger as billed parts.
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
		}},
		// Financial records: prod keeps the bucket when the stack goes, as
		// it keeps the tables; dev's goes with the stack (CloudFormation
		// deletes it only once emptied, see docs/deploy.md).
		RemovalPolicy: s.removal,
	})

	// settlement publishes each new report version (PutObject) and never
	// reads one back.
	settlement := f.byName[apispec.FunctionSettlement]
	settlement.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject"),
		Resources: &[]*string{r.reportObjects()},
	}))
	// admin settles on demand (PutObject), serves a file of up to 4 MiB
	// itself and presigns a download of a bigger one (GetObject: a
	// presigned GET acts with the signer's permissions; HeadObject, which
	// on-demand settlement uses to find lost files, needs it too).
	// ListBucket makes S3 answer a GET or HEAD of a missing file with 404,
	// which s3reports reads as not settled, rather than 403. It carries no
	// s3:prefix condition: a GET or HEAD has no s3:prefix, so a condition
	// would never match and S3 would answer 403. The bucket holds only
	// report files, so the bucket-wide list reveals nothing else.
	admin := f.byName[apispec.FunctionAdmin]
	admin.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject", "s3:GetObject"),
		Resources: &[]*string{r.reportObjects()},
	}))
	admin.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: &[]*string{r.bucket.BucketArn()},
	}))
	for _, fn := range []string{apispec.FunctionSettlement, apispec.FunctionAdmin} {
		f.byName[fn].AddEnvironment(jsii.String(awsclient.EnvReportsBucket), r.bucket.BucketName(), nil)
	}

	if p := s.props.FinanceReaderPrincipal; p != "" {
		r.finance = s.newFinanceReader(r, p)
	}
	awscdk.NewCfnOutput(s.st, jsii.String("ReportsBucketName"), &awscdk.CfnOutputProps{
		Value:       r.bucket.BucketName(),
		Description: jsii.String("Versioned bucket of settlement reports: " + s3reports.Prefix + "<saleId>/report.{json,csv,xlsx,html}"),
	})
	return r
}

// accountID is a 12-digit AWS account number.
var accountID = regexp.MustCompile(`^[0-9]{12}$`)

// financePrincipal reads FinanceReaderPrincipal: an account number (its
// administrators then grant sts:AssumeRole to the people who may) or an
// IAM role or user ARN.
func financePrincipal(p string) (awsiam.IPrincipal, error) {
	switch {
	case accountID.MatchString(p):
		return awsiam.NewAccountPrincipal(jsii.String(p)), nil
	case regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$`).MatchString(p):
		return awsiam.NewArnPrincipal(jsii.String(p)), nil
	}
	return nil, fmt.Errorf("financeReaderPrincipal %q: want a 12-digit account ID or an IAM role or user ARN", p)
}

// newFinanceReader adds the role finance assumes to read every report
// version straight from the bucket: list, get, get a version, on the
// report prefix only; no write, no delete.
func (s *stack) newFinanceReader(r *reports, principal string) awsiam.Role {
	p, err := financePrincipal(principal)
	if err != nil {
		panic(fmt.Errorf("flashsale stack: %w", err)) // withDefaults checked it
	}
	role := awsiam.NewRole(s.st, jsii.String("FinanceReportsReader"), &awsiam.RoleProps{
		RoleName:           jsii.String(FinanceReaderRoleName(s.props.Stage)),
		AssumedBy:          p,
		Description:        jsii.String("flashsale " + s.props.Stage + ": finance reads settlement reports and their versions"),
		MaxSessionDuration: awscdk.Duration_Hours(jsii.Number(1)),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject", "s3:GetObjectVersion"),
		Resources: &[]*string{r.reportObjects()},
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket", "s3:ListBucketVersions"),
		Resources:  &[]*string{r.bucket.BucketArn()},
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": s3reports.Prefix + "*"}},
	}))
	awscdk.NewCfnOutput(s.st, jsii.String("FinanceReportsReaderArn"), &awscdk.CfnOutputProps{
		Value:       role.RoleArn(),
		Description: jsii.String("Role finance assumes to read the reports bucket (aws s3 cp / list-object-versions under " + s3reports.Prefix + ")"),
	})
	return role
}
