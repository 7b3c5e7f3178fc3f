#!/usr/bin/env bash
# Installs returns-edge as a hardened systemd service. Idempotent: run it again to upgrade.
#
#   deploy/install.sh [--dry-run] [--prefix DIR] [--binary FILE]
#
# What it does, in order:
#   1. creates the groups `dialout` and `input` (if missing) and the system user `returns-edge`
#      (no login, home /var/lib/returns-edge), member of both;
#   2. installs the binary to /usr/local/bin/returns-edge (replaced: that is the upgrade);
#   3. installs /etc/returns-edge/returns-edge.toml from config/returns-edge.toml with the store in
#      /var/lib/returns-edge, ONLY if no config exists (an existing config is never overwritten);
#   4. installs the unit to /etc/systemd/system/returns-edge.service (replaced; local changes
#      belong in a drop-in: systemctl edit returns-edge);
#   5. installs the udev rules found in deploy/udev/*.rules to /etc/udev/rules.d and reloads udev;
#   6. runs `returns-edge check-config` on the installed config;
#   7. runs `systemctl daemon-reload` and enables the service (it does not start or restart it).
#
# --dry-run     print every command instead of running it; changes nothing.
# --prefix DIR  install the files under DIR (a staging tree for an image or a package) and skip
#               everything that changes the running system: users, groups, ownership, udev
#               reload, systemctl.
# --binary FILE the binary to install (default: target/release/returns-edge of this checkout).
#
# Upgrade: stop the service, back up the store, run this script, start the service.

set -euo pipefail

readonly SERVICE=returns-edge
readonly SERVICE_USER=returns-edge
readonly STATE_DIR=/var/lib/returns-edge
readonly DEVICE_GROUPS=(dialout input)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
checkout="$(dirname "$here")"

dry_run=0
prefix=""
binary="$checkout/target/release/returns-edge"

usage() {
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

# Runs a command that only touches files under the prefix, or prints it under --dry-run.
run() {
    if ((dry_run)); then
        printf 'would run:'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

# Runs a command that changes the running system (users, udev, systemd). Skipped with --prefix.
system() {
    if [[ -n "$prefix" ]]; then
        printf 'skipped (--prefix):'
        printf ' %q' "$@"
        printf '\n'
    else
        run "$@"
    fi
}

say() {
    printf '==> %s\n' "$*"
}

while (($# > 0)); do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --prefix)
            [[ $# -ge 2 ]] || die "--prefix needs a directory"
            prefix="$2"
            shift
            ;;
        --prefix=*) prefix="${1#--prefix=}" ;;
        --binary)
            [[ $# -ge 2 ]] || die "--binary needs a file"
            binary="$2"
            shift
            ;;
        --binary=*) binary="${1#--binary=}" ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown argument \`$1\` (see --help)" ;;
    esac
    shift
done

if [[ -n "$prefix" ]]; then
    [[ -d "$prefix" ]] || die "--prefix $prefix is not a directory"
    prefix="$(cd "$prefix" && pwd)"
    [[ "$prefix" != "/" ]] || prefix=""
fi

bin_dir="$prefix/usr/local/bin"
doc_dir="$prefix/usr/local/share/doc/$SERVICE"
conf_dir="$prefix/etc/$SERVICE"
conf_file="$conf_dir/$SERVICE.toml"
unit_dir="$prefix/etc/systemd/system"
udev_dir="$prefix/etc/udev/rules.d"

if [[ ! -f "$binary" ]]; then
    if ((dry_run)); then
        say "note: $binary does not exist yet (build it with: cargo build --release --locked)"
    else
        die "no binary at $binary; build it with \`cargo build --release --locked\` or pass --binary FILE"
    fi
fi
if [[ -z "$prefix" ]] && ((!dry_run)) && ((EUID != 0)); then
    die "run as root (or use --dry-run, or --prefix DIR to stage the files)"
fi

say "groups and user"
for group in "${DEVICE_GROUPS[@]}"; do
    if ! getent group "$group" >/dev/null; then
        system groupadd --system "$group"
    fi
done
if ! getent passwd "$SERVICE_USER" >/dev/null; then
    system useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "returns-edge service" "$SERVICE_USER"
fi
system usermod --append --groups "$(
    IFS=,
    echo "${DEVICE_GROUPS[*]}"
)" "$SERVICE_USER"

say "binary"
run install -D -m 0755 "$binary" "$bin_dir/$SERVICE"
run install -D -m 0644 "$checkout/README.md" "$doc_dir/README.md"

say "configuration"
if [[ -e "$conf_file" ]]; then
    say "keeping the existing $conf_file (never overwritten)"
else
    run install -d -m 0750 "$conf_dir"
    if ((dry_run)); then
        printf 'would write: %s (config/returns-edge.toml with data_dir = "%s")\n' "$conf_file" "$STATE_DIR"
    else
        sed "s|^data_dir = .*|data_dir = \"$STATE_DIR\"|" "$checkout/config/$SERVICE.toml" >"$conf_file.tmp"
        chmod 0640 "$conf_file.tmp"
        mv "$conf_file.tmp" "$conf_file"
    fi
    system chown "root:$SERVICE_USER" "$conf_dir" "$conf_file"
fi

say "systemd unit"
run install -D -m 0644 "$here/systemd/$SERVICE.service" "$unit_dir/$SERVICE.service"

say "udev rules"
shopt -s nullglob
rules=("$here"/udev/*.rules)
shopt -u nullglob
if ((${#rules[@]} == 0)); then
    say "none in $here/udev"
else
    for rule in "${rules[@]}"; do
        run install -D -m 0644 "$rule" "$udev_dir/$(basename "$rule")"
    done
    system udevadm control --reload-rules
    system udevadm trigger --subsystem-match=tty --subsystem-match=input --subsystem-match=hidraw
fi

say "check the configuration"
if ((dry_run)); then
    run "$bin_dir/$SERVICE" check-config "$conf_file"
else
    "$bin_dir/$SERVICE" check-config "$conf_file"
fi

say "enable the service"
system systemctl daemon-reload
system systemctl enable "$SERVICE.service"

say "done; start it with: systemctl start $SERVICE; logs: journalctl -u $SERVICE"
