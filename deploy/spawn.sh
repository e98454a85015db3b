# Sourced by the deploy scripts that start daemons.
# spawn LOG PIDFILE CMD…: start CMD in the background with output appended to LOG, its PID in
# PIDFILE, and no inherited file descriptors besides 0–2 (a caller reading our output to its end,
# or waiting for us, must not wait for the daemons).
spawn() {
  local log=$1 pidfile=$2; shift 2
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
    done
    exec "$@"
  ) >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}
