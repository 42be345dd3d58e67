// Package s3reports keeps settlement report versions in a versioned S3
// bucket: the flashsale.ReportArchive adapter. Each sale has one object
// per format, sales/<saleId>/report.<ext>; every Publish writes a new
// version of each, and the bucket keeps the earlier ones.
package s3reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"flashsale/shared/flashsale"
	"flashsale/shared/reportfmt"
)

// Prefix is where the report objects live in the bucket; the functions'
// grants and the finance role are scoped to it (infra/report.go).
const Prefix = "sales/"

// Key is the object that holds a sale's report in one format.
func Key(saleID, format string) string {
	return Prefix + saleID + "/report" + reportfmt.Ext(format)
}

// MetaGeneratedAt is the user metadata (x-amz-meta-generated-at) each
// object carries: the report's generatedAt, which tells versions apart in
// a listing of the bucket's versions.
const MetaGeneratedAt = "generated-at"

// MetaFingerprint (x-amz-meta-fingerprint) is the report's
// flashsale.Report.Fingerprint, so Holds can tell whether the latest
// files are the version the store's summary describes.
const MetaFingerprint = "fingerprint"

// Archive is a flashsale.ReportArchive on one bucket.
type Archive struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
}

var _ flashsale.ReportArchive = (*Archive)(nil)

// New returns the archive on bucket (build client with awsclient.S3).
func New(client *s3.Client, bucket string) *Archive {
	return &Archive{client: client, presign: s3.NewPresignClient(client), bucket: bucket}
}

// publishOrder is flashsale.ReportFormats with the JSON last. The JSON is
// the canonical file (what settle answers and tools parse), so it goes in
// only once every other format of the version is in: a reader of the
// bucket who sees a new report.json knows the other files are at least as
// new. A Publish that fails part-way is repeated whole by the next
// settlement run, since the store's summary, written after it, still
// holds the previous fingerprint.
var publishOrder = func() []string {
	var out []string
	for _, f := range flashsale.ReportFormats {
		if f != flashsale.FormatJSON {
			out = append(out, f)
		}
	}
	return append(out, flashsale.FormatJSON)
}()

// Publish renders r in every format and puts each as the new version of
// its object. Formats are rendered and put one at a time, so memory holds
// the report and one rendered file (about 15 MB of JSON for 100,000
// orders: within a single PutObject's reach, no multipart upload).
func (a *Archive) Publish(ctx context.Context, r flashsale.Report) error {
	meta := map[string]string{MetaGeneratedAt: r.GeneratedAt, MetaFingerprint: r.Fingerprint()}
	var buf bytes.Buffer
	for _, format := range publishOrder {
		buf.Reset()
		if err := reportfmt.Write(&buf, format, r); err != nil {
			return fmt.Errorf("render the %s report of %s: %w", format, r.SaleID, err)
		}
		key := Key(r.SaleID, format)
		_, err := a.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        aws.String(a.bucket),
			Key:           aws.String(key),
			Body:          bytes.NewReader(buf.Bytes()),
			ContentLength: aws.Int64(int64(buf.Len())),
			ContentType:   aws.String(reportfmt.ContentType(format)),
			// A presigned download saves under a name that says what it is.
			ContentDisposition: aws.String(fmt.Sprintf(`attachment; filename="%s-report%s"`, r.SaleID, reportfmt.Ext(format))),
			Metadata:           meta,
		})
		if err != nil {
			return fmt.Errorf("put s3://%s/%s: %w", a.bucket, key, err)
		}
	}
	return nil
}

// Open reads the latest version of a sale's report in one format.
// Errors: flashsale.ErrNotSettled when the object does not exist.
func (a *Archive) Open(ctx context.Context, saleID, format string) (flashsale.ReportFile, error) {
	key := Key(saleID, format)
	out, err := a.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key)})
	if err != nil {
		var missing *types.NoSuchKey
		if errors.As(err, &missing) {
			return flashsale.ReportFile{}, fmt.Errorf("s3://%s/%s: %w", a.bucket, key, flashsale.ErrNotSettled)
		}
		return flashsale.ReportFile{}, fmt.Errorf("get s3://%s/%s: %w", a.bucket, key, err)
	}
	ct := aws.ToString(out.ContentType)
	if ct == "" {
		ct = reportfmt.ContentType(format)
	}
	return flashsale.ReportFile{Body: out.Body, Size: aws.ToInt64(out.ContentLength), ContentType: ct}, nil
}

// Holds reports whether the sale's report.json is the version with this
// fingerprint: Publish writes the JSON last, so it stands for the whole
// version. A HEAD needs s3:GetObject (and s3:ListBucket for a 404 rather
// than a 403); only the admin function, which settles on demand, asks.
func (a *Archive) Holds(ctx context.Context, saleID, fingerprint string) (bool, error) {
	key := Key(saleID, flashsale.FormatJSON)
	out, err := a.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key)})
	var notFound *types.NotFound
	var noKey *types.NoSuchKey
	switch {
	case err == nil:
		return out.Metadata[MetaFingerprint] == fingerprint, nil
	case errors.As(err, &notFound) || errors.As(err, &noKey):
		return false, nil
	}
	return false, fmt.Errorf("head s3://%s/%s: %w", a.bucket, key, err)
}

// Link presigns a GET of the latest version of a sale's report in one
// format, valid for ttl. It signs with the caller's credentials (in AWS
// the function's role, whose session may end before ttl does: Lambda's
// role sessions last hours, far more than the minutes a link needs).
func (a *Archive) Link(ctx context.Context, saleID, format string, ttl time.Duration) (string, error) {
	key := Key(saleID, format)
	req, err := a.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(a.bucket), Key: aws.String(key)},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign s3://%s/%s: %w", a.bucket, key, err)
	}
	return req.URL, nil
}
