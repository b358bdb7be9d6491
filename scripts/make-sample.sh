#!/bin/sh
# Makes samples/sample.flv, the small clip the README demo publishes: 3 s of 320x240 testsrc2 at 30 fps,
# H.264 (x264 ultrafast, 2 B-frames so composition times are non-zero, a keyframe every second, ~200 kb/s)
# and AAC (64 kb/s, 44.1 kHz, a 440 Hz tone), in FLV. About 110 KB. Needs ffmpeg with libx264.
#
# Usage: scripts/make-sample.sh [output]    (default: samples/sample.flv at the repository root)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/samples/sample.flv"}
mkdir -p "$(dirname "$out")"

if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "make-sample.sh: ffmpeg is required (apt-get install ffmpeg, brew install ffmpeg)" >&2
  exit 1
fi

ffmpeg -hide_banner -nostdin -loglevel error -y \
  -f lavfi -i "testsrc2=size=320x240:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=44100" \
  -t 3 \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -bf 2 -g 30 -keyint_min 30 -sc_threshold 0 \
  -b:v 200k -maxrate 250k -bufsize 250k -threads 1 \
  -c:a aac -b:a 64k \
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  -f flv "$out"

echo "wrote $out ($(wc -c < "$out" | tr -d ' ') bytes)"
