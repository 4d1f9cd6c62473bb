// Object stores (docs/format.md section 5.3): octavo's Env over S3. Reads, listings and plain
// writes go through Arrow's S3 filesystem (libarrow_s3 in the pyarrow wheel); the one request
// Arrow cannot make, the conditional create of a commit's manifest (If-None-Match: *), goes
// through libcurl with its built-in AWS SigV4 signing.
#pragma once

#include <map>
#include <string>

#include "octavo/env.h"

namespace octavo {

// Where and as whom to reach the store: storage_options of octavo.open, else the AWS_*
// environment variables (AWS_ENDPOINT_URL, AWS_REGION / AWS_DEFAULT_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
struct S3Config {
  std::string endpoint_url;  // "http://127.0.0.1:9000"; empty = AWS (https://s3.<region>.amazonaws.com)
  std::string region;        // default us-east-1
  std::string access_key_id, secret_access_key, session_token;
  bool allow_http = false;   // an http:// endpoint is refused unless this is set

  // From storage options (keys: endpoint_url, region, access_key_id, secret_access_key,
  // session_token, allow_http), the environment filling what they leave out. kInvalid names
  // an unknown key or a bad value.
  static Result<S3Config> FromOptions(const std::map<std::string, std::string>& options);
};

// True for the addresses an S3Env serves ("s3://bucket/key").
bool IsS3Address(const std::string& path);

// The Env for an s3:// address, one per configuration and bucket for the process (never
// destroyed: handles opened through it may outlive everything). Arrow's S3 support is
// initialised on first use and finalised at exit.
Result<Env*> S3EnvFor(const std::string& address, const S3Config& config);

}  // namespace octavo
