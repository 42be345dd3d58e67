package s3local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"flashsale/shared/awsclient"
	"flashsale/shared/local/s3local"
)

// client builds an S3 client for srv the way every process does.
func client(tb testing.TB, srv *s3local.Server) *s3.Client {
	tb.Helper()
	set := awsclient.Settings{S3Endpoint: srv.Endpoint, ReportsBucket: srv.Bucket}
	cfg, err := awsclient.LoadConfig(context.Background(), set)
	if err != nil {
		tb.Fatal(err)
	}
	return awsclient.S3(cfg, set)
}

func put(tb testing.TB, c *s3.Client, bucket, key, body string) string {
	tb.Helper()
	out, err := c.PutObject(tb.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader([]byte(body)), ContentType: aws.String("text/plain")})
	if err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
	return aws.ToString(out.VersionId)
}

// TestSDKDefaults: the SDK's default checksum settings and path-style
// addressing work against gofakes3, and the bucket is versioned: two puts
// of a key make two versions, and a GET reads the latest.
func TestSDKDefaults(t *testing.T) {
	srv := s3local.StartT(t)
	c := client(t, srv)
	ver, err := c.GetBucketVersioning(t.Context(), &s3.GetBucketVersioningInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if ver.Status != types.BucketVersioningStatusEnabled {
		t.Errorf("versioning %q, want %q", ver.Status, types.BucketVersioningStatusEnabled)
	}
	v1 := put(t, c, srv.Bucket, "sales/s1/report.csv", "one")
	v2 := put(t, c, srv.Bucket, "sales/s1/report.csv", "two")
	if v1 == "" || v1 == v2 {
		t.Errorf("version ids %q then %q, want two distinct ones", v1, v2)
	}
	out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("sales/s1/report.csv")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "two" {
		t.Errorf("got %q, want the latest version %q", b, "two")
	}
	if got := aws.ToString(out.ContentType); got != "text/plain" {
		t.Errorf("content type %q, want text/plain", got)
	}
	vs, err := c.ListObjectVersions(t.Context(), &s3.ListObjectVersionsInput{Bucket: aws.String(srv.Bucket), Prefix: aws.String("sales/s1/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 2 {
		t.Errorf("%d versions, want 2", len(vs.Versions))
	}
	old, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("sales/s1/report.csv"), VersionId: aws.String(v1)})
	if err != nil {
		t.Fatalf("get version %s: %v", v1, err)
	}
	defer old.Body.Close()
	if b, _ := io.ReadAll(old.Body); string(b) != "one" {
		t.Errorf("version %s: got %q, want %q", v1, b, "one")
	}
}

// TestNoSuchKey: a missing key is the SDK's typed NoSuchKey, which
// s3reports turns into ErrNotSettled.
func TestNoSuchKey(t *testing.T) {
	srv := s3local.StartT(t)
	_, err := client(t, srv).GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("sales/none/report.json")})
	var missing *types.NoSuchKey
	if !errors.As(err, &missing) {
		t.Errorf("got %v (%T), want *types.NoSuchKey", err, err)
	}
}

// TestPresignedGet: a presigned URL downloads the object with a plain
// http.Get, no credentials.
func TestPresignedGet(t *testing.T) {
	srv := s3local.StartT(t)
	c := client(t, srv)
	put(t, c, srv.Bucket, "sales/s2/report.json", `{"saleId":"s2"}`)
	req, err := s3.NewPresignClient(c).PresignGetObject(t.Context(),
		&s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String("sales/s2/report.json")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(req.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != `{"saleId":"s2"}` {
		t.Errorf("GET %s: %d %q, want 200 with the object", req.URL, resp.StatusCode, b)
	}
}

// TestStart_AddressInUse: a taken port is an error, not a server that
// never answers.
func TestStart_AddressInUse(t *testing.T) {
	srv := s3local.StartT(t)
	if s, err := s3local.Start(srv.Endpoint[len("http://"):], ""); err == nil {
		_ = s.Close()
		t.Fatal("second server on the same address started, want an error")
	}
}

// TestClose: after Close nothing answers on the endpoint.
func TestClose(t *testing.T) {
	srv, err := s3local.Start("", "other-bucket")
	if err != nil {
		t.Fatal(err)
	}
	if srv.Bucket != "other-bucket" {
		t.Errorf("bucket %q, want other-bucket", srv.Bucket)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(srv.Endpoint); err == nil {
		resp.Body.Close()
		t.Errorf("GET %s answered %d after Close", srv.Endpoint, resp.StatusCode)
	}
}
