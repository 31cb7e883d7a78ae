'use strict';

// Runs s3rver from the install directory in S3RVER_INSTALL with the
// command-line arguments given, accepting the key pair in S3_ACCESS_KEY
// and S3_SECRET_KEY. The package's built-in key pair is revoked: a test
// that signs with anything but the configured pair must be refused.

const path = require('path');

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`run-s3rver: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const install = required('S3RVER_INSTALL');
const accessKey = required('S3_ACCESS_KEY');
const secretKey = required('S3_SECRET_KEY');

const { DUMMY_ACCOUNT } = require(path.join(install, 'lib/models/account'));
DUMMY_ACCOUNT.createKeyPair(accessKey, secretKey);
if (accessKey !== 'S3RVER') {
  DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
}

require(path.join(install, 'lib/cli'))
  .parseAsync(process.argv)
  .catch((error) => {
    console.error(`run-s3rver: ${error.message}`);
    process.exit(1);
  });
