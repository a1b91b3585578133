#!/usr/bin/perl
# logdays.t — 200 days of mail logs through the appliance's log retention
# (init/service/logretention/run under the image's busybox, mxgatectl):
# one rotated log file per day, stamped and dated that day, LOGDAYS_MSGS
# messages a day (make check: 1,000; make faults: 20,000), five lines per
# message as the relay writes them, on a tmpfs of the test's own sized
# for them. With log_clear_days 30 and log_retention_days 180, one pass
# must leave:
#  - nothing younger than 180 days missing: days 1-30 in clear text, days
#    31-180 each in exactly one sealed archive, which opens with the
#    private key byte for byte (SHA-256 of the day's file) and not with
#    another key; days 181-200 deleted, each deletion logged;
#  - the disk guard reached and reported without silent loss: the disk
#    filled past log_disk_full, `guard` under tempfail deletes nothing and
#    says new mail waits; under drop-oldest it deletes the oldest archives
#    only, each one printed and audited, until below the mark.
# Prints (not asserted) the figures the compliance docs quote: bytes of
# log per message, archive size ratio, seal cost per MiB, and how long
# `logs search` takes over all of it.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use Digest::SHA qw(sha256_hex);
use MxTest;

if ($> != 0) {
	fail('needs root: the test mounts a tmpfs');
	done_testing();
	exit;
}
my $per_day = $ENV{LOGDAYS_MSGS} // 1000;
my $days = 200;
my $bb = out_dir() . '/image-work/busybox/busybox';
ok(-x $bb, "the image's busybox ($bb; make image)") or BAIL_OUT('no busybox');
my $ctl = bin('mxgatectl');
my $script = "$ENV{MXGATE_TOP}/init/service/logretention/run";
my $dir = tmpdir();
my $bin = "$dir/bin";
mkdir $bin;
for my $a (qw(sh find touch mkdir mv rm cat sleep sed tail grep)) {
	symlink($bb, "$bin/$a") or die "$a: $!";
}
symlink($ctl, "$bin/mxgatectl") or die;

# one day of the relay's log: five lines per message, as in session
sub day_text {
	my ($t0, $n) = @_;
	my @l;
	for my $i (1 .. $n) {
		my @tm = gmtime($t0 + int($i * 86000 / $n));
		my $ts = sprintf('%04d-%02d-%02dT%02d:%02d:%02d+00:00', $tm[5] + 1900,
		    $tm[4] + 1, $tm[3], $tm[2], $tm[1], $tm[0]);
		my $q = sprintf('%010X%08X', $t0, $i);
		my $h = "$ts mx.example.net mxgate";
		push @l, "$h/smtpd[4242]: $q: client=mail$i.sender.example[192.0.2." . ($i % 250 + 1) . "]\n",
		    "$h/cleanup[4242]: $q: message-id=<$t0.$i\@sender.example>\n",
		    "$h/qmgr[4242]: $q: from=<user$i\@sender.example>, size=" . (2000 + $i % 5000) . ", nrcpt=1 (queue active)\n",
		    "$h/smtp[4242]: $q: to=<rcpt" . ($i % 300) . "\@customer.example>, relay=mail.customer.example[198.51.100.7]:25, delay=0.12, delays=0.01/0/0.03/0.08, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4XyZ$i)\n",
		    "$h/qmgr[4242]: $q: removed\n";
	}
	return join('', @l);
}

my $day = 86400;
my $now = int(time);
my $t_start = time;
my (%sha, %file, $bytes);
# the tmpfs is sized from one day's text (the others differ by a few bytes)
my $est = length(day_text($now, $per_day)) * $days;
my $lfs = "$dir/data";
mkdir $lfs;
my $size_mb = int($est * 1.3 / 1048576) + 8;
is(system('mount', '-t', 'tmpfs', '-o', "size=${size_mb}m,mode=0755", 'tmpfs', $lfs), 0,
    "a ${size_mb} MiB tmpfs for the logs") or BAIL_OUT('cannot mount a tmpfs');
END { system('umount', '-l', $lfs) if $lfs && -d $lfs }
my $log = "$lfs/log";
my $etc = "$dir/etc";
mkdir $log; mkdir "$log/mxgate"; mkdir $etc;
for my $d (1 .. $days) {
	# day d: its lines stamped that day, the file closed at its end and
	# named by that time (s6-log's @TAI64N: 2^62 + 10 + seconds)
	my $t0 = $now - $d * $day - $day + 600;
	my $text = day_text($t0, $per_day);
	my $name = sprintf('@40000000%08x%08x.s', 10 + $t0 + $day - 600, 0);
	my $f = "$log/mxgate/$name";
	write_file($f, $text);
	utime($t0 + $day - 700, $t0 + $day - 700, $f);
	$bytes += length $text;
	$sha{$d} = sha256_hex($text);
	$file{$d} = $name;
}
write_file("$log/mxgate/current", "today\n");
diag(sprintf('%d days x %d messages: %.1f MiB of clear-text log (%.0f bytes per message), made in %.1f s',
    $days, $per_day, $bytes / 1048576, $bytes / ($days * $per_day), time - $t_start));

run($ctl, 'logs', 'keygen', "$dir/customer.pem", "$etc/log-archive-key.pem");
run($ctl, 'logs', 'keygen', "$dir/other.pem", "$dir/other.pub");
my $conf = "hostname mx.example.test\nlisten 127.0.0.1:2525\n" .
    "route customer.example 127.0.0.1:2526\nqueue $dir/queue\n" .
    "log_clear_days 30\nlog_retention_days 180\nlog_disk_warn 50\nlog_disk_full 95\n";
write_file("$etc/mxgate.conf", $conf);

sub retention {
	my ($mode) = @_;
	return run('env', "PATH=$bin", "LOG_DIR=$log", "ETC_DIR=$etc",
	    "MXGATECTL=$bin/mxgatectl", 'CONSOLES=', "$bin/sh", $script, $mode);
}
my $t0 = time;
my ($rc, $out) = retention('once');
my $pass_s = time - $t0;
is($rc, 0, "one retention pass over $days days, under busybox") or diag $out;

my ($clear_ok, $sealed_ok, $gone_ok, $opens, $logged) = (0, 0, 0, 0, 0);
my ($sealed_bytes, $sealed_clear) = (0, 0);
my @bad;
for my $d (1 .. $days) {
	my $c = "$log/mxgate/$file{$d}";
	my $a = "$log/archive/mxgate/$file{$d}.sealed";
	if ($d <= 30) {
		if (-f $c && !-e $a && sha256_hex(read_file($c)) eq $sha{$d}) { $clear_ok++ }
		else { push @bad, "day $d: not kept in clear text" }
	} elsif ($d <= 180) {
		if (!-e $c && -f $a) {
			$sealed_ok++;
			$sealed_bytes += -s $a;
			my ($r) = run($ctl, 'logs', 'open', $a, "$dir/open.$d", '--key', "$dir/customer.pem");
			my $t = read_file("$dir/open.$d") // '';
			$sealed_clear += length $t;
			if ($r == 0 && sha256_hex($t) eq $sha{$d}) { $opens++ }
			else { push @bad, "day $d: the archive does not open to the day's file" }
			unlink "$dir/open.$d";
		} else { push @bad, "day $d: not sealed (clear: " . (-e $c ? 1 : 0) . ')' }
	} else {
		if (!-e $c && !-e $a) { $gone_ok++ }
		else { push @bad, "day $d: still there" }
		$logged++ if $out =~ /^deleted \Q$a\E: older than 180 days$/m;
	}
}
is($clear_ok, 30, 'days 1-30: in clear text, unchanged') or diag join("\n", @bad);
is($sealed_ok, 150, 'days 31-180: each sealed into one archive, no clear text left');
is($opens, 150, '... each opens with the private key to the day\'s file, byte for byte (SHA-256)');
is($gone_ok, 20, 'days 181-200: deleted');
is($logged, 20, '... each deletion logged');
my $wrong = 0;
for my $d (31, 100, 180) {
	my ($r) = run($ctl, 'logs', 'open', "$log/archive/mxgate/$file{$d}.sealed",
	    "$dir/wrong.$d", '--key', "$dir/other.pem");
	$wrong++ if $r != 0 && !-e "$dir/wrong.$d";
}
is($wrong, 3, 'an archive does not open with another key (days 31, 100, 180)');
ok(-f "$log/mxgate/current", 'current is untouched');
diag(sprintf('sealed %.1f MiB in %.1f s: %.2f s per MiB (pass included); archive/clear size ratio %.4f',
    $sealed_clear / 1048576, $pass_s, $pass_s / ($sealed_clear / 1048576 || 1),
    $sealed_bytes / ($sealed_clear || 1)));

# search, clear logs and sealed ones (a message of day 100, another of day 10)
my $mid = sprintf('<%d.%d@sender.example>', $now - 100 * $day - $day + 600, 7);
$t0 = time;
my $err;
($rc, $out, $err) = run($ctl, '-f', "$etc/mxgate.conf", 'logs', 'search', $mid, '--dir', $log, '--key', "$dir/customer.pem");
my $search_s = time - $t0;
is($rc, 0, 'logs search finds a message of day 100 in the sealed archives') or diag $out . $err;
is(scalar(() = $out =~ /\n/g), 5, '... all five of its lines') or diag $out;
$mid = sprintf('%d.%d@sender.example', $now - 10 * $day - $day + 600, 9);
$t0 = time;
($rc, $out) = run($ctl, '-f', "$etc/mxgate.conf", 'logs', 'search', $mid, '--dir', $log);
my $search_clear_s = time - $t0;
is($rc, 0, 'logs search finds a message of day 10 in the clear logs');
diag(sprintf('logs search over %d days (%.0f messages): %.2f s with --key (150 sealed days opened), %.2f s over the 30 clear days',
    180, 180 * $per_day, $search_s, $search_clear_s));

# the disk guard: filled past log_disk_full
my $l = (split /\n/, `df -P -k $lfs`)[1];
my (undef, $total, $used) = split ' ', $l;
my $want = int($total * 0.97) - $used;
system("dd if=/dev/zero of=$log/mxgate/current bs=1k count=$want 2>/dev/null") if $want > 0;
($rc, $out) = retention('guard');
like($out, qr/^log disk \Q$log\E (9[5-9]|100)% used: full \(warn 50%, full 95%, log_full_policy tempfail\): new mail gets 451 4\.3\.0$/m,
    'full under tempfail: the guard says new mail waits') or diag $out;
my @left = grep { -e "$log/archive/mxgate/$file{$_}.sealed" } 31 .. 180;
is(scalar(@left), 150, '... and deletes nothing');

write_file("$etc/mxgate.conf", $conf . "log_full_policy drop-oldest\n");
($rc, $out) = retention('guard');
my @dropped = grep { !-e "$log/archive/mxgate/$file{$_}.sealed" } 31 .. 180;
ok(@dropped > 0, 'full under drop-oldest: the guard deleted ' . scalar(@dropped) . ' archive(s)') or diag $out;
is_deeply(\@dropped, [(181 - @dropped) .. 180], '... the oldest days only') or diag "@dropped";
my $printed = grep { $out =~ /^deleted \Q$log\E\/archive\/mxgate\/\Q$file{$_}\E\.sealed \(of [\dT:Z-]+\): log disk \d+% used, full at 95% \(log_full_policy drop-oldest\)$/m } @dropped;
is($printed, scalar(@dropped), '... each one printed');
my $audit = read_file("$dir/audit.log") // '';
my $audited = grep { $audit =~ /op=logs\.drop arg=\Q$log\E\/archive\/mxgate\/\Q$file{$_}\E\.sealed result=deleted/ } @dropped;
is($audited, scalar(@dropped), '... and audited');
like($out, qr/^log disk \Q$log\E \d+% used: above the high-water mark/m, '... until below log_disk_full');
is(scalar(grep { -f "$log/mxgate/$file{$_}" } 1 .. 30), 30, 'the clear days are all still there');
done_testing();
