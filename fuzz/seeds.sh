#!/usr/bin/env bash
# Writes seed inputs derived from the shared Kafka vectors, so nothing binary is committed:
#   fuzz/seeds.sh SHARED_TESTDATA_DIR OUT_DIR
# batch_decode reads the vectors as they are (pass their directory as a corpus dir).
# For segment_recover (input layout in fuzz_targets/segment_recover.rs) each vector, a .log
# file as Kafka lays it out, is followed by index files that let the segment be trusted:
# an empty offset index, or one entry for the last batch (the cheap open walks headers
# from there), with an empty time index; in Active and in Sealed mode.
# segment_verify takes segment_recover's layout: it gets the same seeds.
# For metadata_parse: one text file of each engine file format (docs/FORMAT.md, "Engine
# files"), behind the flags byte that selects it.
set -euo pipefail
testdata=${1:?usage: seeds.sh SHARED_TESTDATA_DIR OUT_DIR}
out=${2:?usage: seeds.sh SHARED_TESTDATA_DIR OUT_DIR}
mkdir -p "$out/segment_recover"

# be FILE OFFSET LEN: the unsigned big-endian integer at OFFSET.
be() {
    local value=0 byte
    for byte in $(od -An -v -tu1 -j "$2" -N "$3" "$1"); do
        value=$((value * 256 + byte))
    done
    echo "$value"
}

# u32 VALUE: four big-endian bytes.
u32() {
    local shift
    for shift in 24 16 8 0; do
        # shellcheck disable=SC2059 # the format is the escaped byte
        printf "\\x$(printf '%02x' $((($1 >> shift) & 255)))"
    done
}

# Seeds stay below the fuzz runs' -max_len (65536): libFuzzer cuts longer inputs, which
# would lose the trailer. Logs are cut after the last whole batch that fits.
max_log_bytes=$((65536 - 64))

# last_batch FILE: "position last_offset end" of the last whole batch that ends within
# max_log_bytes, or nothing.
last_batch() {
    local size pos=0 last=""
    size=$(wc -c <"$1")
    while ((pos + 61 <= size)); do
        local length base delta
        length=$(be "$1" $((pos + 8)) 4)
        ((length >= 49 && pos + 12 + length <= size && pos + 12 + length <= max_log_bytes)) || break
        base=$(be "$1" "$pos" 8)
        delta=$(be "$1" $((pos + 23)) 4)
        last="$pos $((base + delta)) $((pos + 12 + length))"
        pos=$((pos + 12 + length))
    done
    echo "$last"
}

for f in "$testdata"/*.bin; do
    name=$(basename "$f" .bin)
    position="" last_offset="" end=""
    read -r position last_offset end <<<"$(last_batch "$f")" || true
    [[ -n $end ]] || end=$(($(wc -c <"$f") < max_log_bytes ? $(wc -c <"$f") : max_log_bytes))
    for flags in 0c 0d; do
        # Trailer, read from the end: flags, offset index length, offset index, time
        # index length, time index. Flags 0x0c: both index files, Active; 0x0d: Sealed.
        { head -c "$end" "$f"; printf '\x00\x00\x'"$flags"; } >"$out/segment_recover/$name-empty-index-$flags"
        if [[ -n $position ]] && ((last_offset <= 0xffffffff)); then
            {
                head -c "$end" "$f"
                printf '\x00'
                u32 "$last_offset"
                u32 "$position"
                printf '\x08\x'"$flags"
            } >"$out/segment_recover/$name-last-entry-$flags"
        fi
    done
done

mkdir -p "$out/segment_verify"
cp "$out"/segment_recover/* "$out/segment_verify/"

# metadata_parse (input layout in fuzz_targets/metadata_parse.rs): one flags byte, then the
# file. Text seeds of each engine file in the format of docs/FORMAT.md, "Engine files".
mkdir -p "$out/metadata_parse"
metadata='# silt topic metadata\nversion=1\nname=orders\npartitions=3\ncreated.ms=1700000000000\nconfig.retention.ms=1000\nconfig.cleanup.policy=compact,delete\n'
checkpoint='0\n3\norders 0 100\norders 1 42\n__consumer_offsets 7 9223372036854775807\n'
# 0x04: topic metadata with its crc32c line appended; 0x0c: and opened by the engine.
printf "\\x04$metadata" >"$out/metadata_parse/topic-metadata"
printf "\\x0c$metadata" >"$out/metadata_parse/topic-metadata-open"
# 0x01, 0x11, 0x21: the three checkpoint files; 0x09: opened by the engine.
printf "\\x01$checkpoint" >"$out/metadata_parse/recovery-point-checkpoint"
printf "\\x11$checkpoint" >"$out/metadata_parse/log-start-checkpoint"
printf "\\x21$checkpoint" >"$out/metadata_parse/cleaner-checkpoint"
printf "\\x29$checkpoint" >"$out/metadata_parse/cleaner-checkpoint-open"
printf '\x010\n0\n' >"$out/metadata_parse/empty-checkpoint"
printf '\x022000\n' >"$out/metadata_parse/producer-id-block"
printf '\x0a2000\n' >"$out/metadata_parse/producer-id-block-open"
printf '\x03orders.v2_eu-west-12' >"$out/metadata_parse/partition-dir"
printf '\x0300000000000000000042.log' >"$out/metadata_parse/segment-file"
