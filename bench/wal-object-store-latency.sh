#!/bin/bash
# Latency of small writes: a local WAL (fsync) against --wal-object-store on s3s-fs,
# debug build, one sluice per configuration (bench/RESULTS.md, "The WAL in the bucket").
# Needs s3s-fs (scripts/s3-server.sh) and python3; writes under /tmp/walbench.
set -u
# The servers this script starts go with it, however it ends.
trap 'kill $(jobs -p) 2>/dev/null' EXIT
B=${SLUICE_BIN:-target/debug/sluice}
S3=${SLUICE_S3S_FS:-s3s-fs}
HERE=$(dirname "$0")
W=/tmp/walbench
rm -rf $W/s3 $W/d-*; mkdir -p $W/s3/sluice
$S3 --host 127.0.0.1 --port 19123 --access-key k --secret-key secretsecret $W/s3 >/dev/null 2>&1 &
S3PID=$!
sleep 1
start() { # name port extra...
  local name=$1 port=$2; shift 2
  SLUICE_AWS_SECRET_ACCESS_KEY=secretsecret $B serve --bind 127.0.0.1:$port --data-dir $W/d-$name --without-auth \
    --object-store s3 --bucket sluice --node-id $name --aws-endpoint http://127.0.0.1:19123 --aws-allow-http \
    --aws-access-key-id k --log-level warn "$@" >$W/$name.log 2>&1 &
  echo $!
}
bench() { # port label writes connections lines [pause]
  for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:$1/ping && break; sleep 0.2; done
  echo -n "$2: "; python3 "$HERE/write-latency.py" --url http://127.0.0.1:$1 --writes $3 --connections $4 --lines $5 --pause ${6:-0}
}
P=$(start local 18101); bench 18101 "local WAL, fsync        " 300 1 1; bench 18101 "local WAL, fsync        " 100 8 1; bench 18101 "local WAL, fsync        " 20 1 5000; kill $P
P=$(start obj0 18102 --wal-object-store --wal-flush-interval 0s); bench 18102 "object WAL, interval 0s " 300 1 1; bench 18102 "object WAL, interval 0s " 100 8 1; bench 18102 "object WAL, interval 0s " 20 1 5000; kill $P
P=$(start obj100 18103 --wal-object-store --wal-flush-interval 100ms); bench 18103 "object WAL, interval 100ms" 50 1 1; bench 18103 "object WAL, interval 100ms" 30 8 1; kill $P
P=$(start obj1s 18104 --wal-object-store); bench 18104 "object WAL, interval 1s  " 10 1 1; bench 18104 "object WAL, interval 1s  " 10 8 1; kill $P
kill $S3PID
wait 2>/dev/null
