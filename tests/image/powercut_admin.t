#!/usr/bin/perl
# powercut_admin.t — the power of the appliance is cut while an admin is
# committing configuration changes and while logs rotate. On the console
# two loops run until the cut: `mxgatectl config edit` + `config commit`
# (a new revision each time: written, fsync'd, the link moved, the relay
# reloaded, the firewall loaded again, the log forwarder restarted), and
# busybox `logger` lines of 900 bytes into the syslog service, whose
# s6-log rotates its 1 MiB file again and again. QEMU is killed with
# SIGKILL at a random moment 5-12 s into that, POWERCUT_ADMIN_CYCLES
# times (1 in make check, 3 in make faults); after each cut the same disk
# boots and must show:
#  - the data partition consistent (e2fsck: journal replay at most);
#  - a running configuration that checks, and that is the last revision
#    `config history` lists (a commit is there whole or not at all);
#  - an audit trail whose hash chain verifies;
#  - a new commit going through (no stale lock, no half candidate);
#  - the syslog service's logger writing again (a new line lands in its
#    current), its directory holding only s6-log's own files;
#  - the relay ready.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use MxTest;
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');
my $cycles = $ENV{POWERCUT_ADMIN_CYCLES} // 1;

my $tmp = tmpdir();
my $disk = image_copy($tmp, {
    'mxgate.conf' => "hostname mx.demo.test\nlisten 0.0.0.0:25\n" .
	"route demo.test 10.0.2.100:25\nqueue /data/queue\n" .
	"connect_timeout 2\npregreet_wait 0\n",
    'ntp.conf' => "server none\n" });
my $port = free_port();

sub boot_ready {
	my ($n) = @_;
	my $vm = MxQemu->boot(disk => $disk, firmware => 'bios', port => $port,
	    log => "$tmp/console-$n.log");
	my $ok = $vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300);
	return ($vm, $ok);
}
sub cmd {
	my ($vm, $c, $secs) = @_;
	return $vm->run_cmd($c, $secs // 60) // '';
}

my ($vm, $ready) = boot_ready(0);
ok($ready, 'first boot: ready') or BAIL_OUT("console: $tmp/console-0.log");
ok($vm->login(120), 'admin logs in') or BAIL_OUT("console: $tmp/console-0.log");
# the editor the loop runs: appends one comment line per commit
my $out = cmd($vm, q{printf '#!/bin/sh\necho "# change $(date +%%s)-$$" >>"$1"\n' >/tmp/e.sh; } .
    q{EDITOR="sh /tmp/e.sh" mxgatectl config edit && mxgatectl config commit -m first >/dev/null; echo "commit exit $?"});
like($out, qr/^commit exit 0/m, 'a first commit on the console') or diag $out;

for my $c (1 .. $cycles) {
	$out = cmd($vm, 'ls /data/log/syslog | grep -c "^@"');
	my ($rot0) = $out =~ /^(\d+)/m;
	# the two loops, in the background of the console shell
	my $pad = 'x' x 900;
	$vm->type(qq{( i=0; while :; do i=\$((i+1)); EDITOR="sh /tmp/e.sh" mxgatectl config edit >/dev/null 2>&1 && mxgatectl config commit -m "cut $c \$i" >/dev/null 2>&1; done ) &\r});
	$vm->type(qq{( while :; do logger -t spam "cycle $c $pad"; done ) &\r});
	my $wait = 5 + rand 7;
	sleep $wait;
	$vm->power_cut;
	diag(sprintf 'cycle %d: power cut %.1f s into the commits and the log flood', $c, $wait);
	($vm, $ready) = boot_ready($c);
	ok($vm->output =~ /data partition checked: e2fsck exit ([01])\b/,
	    "cycle $c: the data partition checks consistent (e2fsck exit "
	    . (($vm->output =~ /e2fsck exit (\d+)/)[0] // '?') . ')')
	    or diag("console: $tmp/console-$c.log");
	unlike($vm->output, qr/UNEXPECTED INCONSISTENCY|filesystem repaired/, "cycle $c: no repair needed");
	ok($ready, "cycle $c: the relay is ready") or diag("console: $tmp/console-$c.log");
	ok($vm->login(120), "cycle $c: admin logs in") or last;

	$out = cmd($vm, 'mxgatectl status; echo "status exit $?"');
	like($out, qr/^configuration: \S+: valid$/m, "cycle $c: the running configuration checks") or diag $out;
	my ($rev) = $out =~ /^configuration revision: revision (\d+)/m;
	$out = cmd($vm, 'mxgatectl config history | tail -n 1');
	my ($last) = $out =~ /^\s*\*?\s*(\d+)\b/m;
	ok(defined $rev && defined $last && $rev == $last,
	    "cycle $c: it is the last revision in the history (" . ($rev // '?') . ' of ' . ($last // '?') . ')')
	    or diag $out;
	$out = cmd($vm, 'mxgatectl audit verify; echo "verify exit $?"');
	like($out, qr/^verify exit 0/m, "cycle $c: the audit trail's chain verifies") or diag $out;
	$out = cmd($vm, qq{EDITOR="sh /tmp/e.sh" mxgatectl config edit >/dev/null 2>&1; mxgatectl config commit -m "after cut $c" >/dev/null; echo "commit exit \$?"});
	like($out, qr/^commit exit 0/m, "cycle $c: a new commit goes through (no stale lock)") or diag $out;

	$out = cmd($vm, qq{logger -t aftercut "hello-$c"; sleep 3; grep -c "hello-$c" /data/log/syslog/current; } .
	    q{ls -a /data/log/syslog | grep -v -e '^\.*$' -e '^@[0-9a-f]*\.[su]$' -e '^current$' -e '^lock$' -e '^state$' -e '^processed$' | sed 's/^/unexpected: /'; } .
	    q{ls /data/log/syslog | grep -c "^@"});
	like($out, qr/^1$/m, "cycle $c: the syslog logger writes again after the cut") or diag $out;
	unlike($out, qr/^unexpected: /m, "cycle $c: its directory holds only s6-log's files") or diag $out;
	my ($rot1) = $out =~ /^(\d+)\s*\z/m;
	diag("cycle $c: syslog rotated files " . ($rot0 // '?') . ' before, ' . ($rot1 // '?') . ' after');
	cmp_ok($rot1 // 0, '>', $rot0 // 0, "cycle $c: the log rotated during the flood");
}
ok($vm->acpi_powerdown, 'ACPI power-down sent');
ok($vm->expect(qr/mxgate: poweroff now/, 120), 'clean shutdown');
$vm->wait_exit(60);
done_testing();
