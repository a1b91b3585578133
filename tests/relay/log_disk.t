#!/usr/bin/perl
# log_disk.t — the log disk guard. The logs live on a small tmpfs of this
# test's own (log_dir), filler files take its space:
#  - above log_disk_warn the relay logs it once and mxgatectl status is
#    degraded (exit 1, the reason named); mail still flows;
#  - above log_disk_full under log_full_policy tempfail (the default) new
#    mail gets 451 4.3.0 at MAIL, each refusal logged, status says so;
#    when space returns the relay accepts mail again by itself;
#  - under drop-oldest mail keeps flowing while full, `mxgatectl logs
#    guard` deletes the oldest logs (sealed archives and rotated files,
#    oldest first, never `current`) until the disk is below the mark,
#    each deletion printed and audited; when nothing is left to delete
#    (99 %), new mail gets 451 4.3.0 after all.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

if ($> != 0) {
	fail('needs root: the relay roles drop to their own users, and the test mounts a tmpfs');
	done_testing();
	exit;
}

my $dir = tmpdir();
my $lfs = "$dir/logfs";
mkdir $lfs or die "$lfs: $!";
is(system('mount', '-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', $lfs), 0,
    'a 4 MiB tmpfs for the logs') or BAIL_OUT('cannot mount a tmpfs');
END { system('umount', '-l', $lfs) if $lfs && -d $lfs }
mkdir "$lfs/mxgate"; mkdir "$lfs/archive"; mkdir "$lfs/archive/mxgate";
write_file("$lfs/mxgate/current", "the file s6-log writes\n");

my $ctl = bin('mxgatectl');
my $sink = start_sink();
my $base = "route example.test 127.0.0.1:" . $sink->port . "\n" .
    "log_dir $lfs\nlog_disk_warn 50\nlog_disk_full 80\n";
my $mx = start_mxgate(config => $base);

sub used_pct {
	my $l = (split /\n/, `df -P $lfs`)[1];
	my @f = split ' ', $l;
	return 100 - int($f[3] * 100 / $f[1]);
}

# fill (or empty) the tmpfs to about pct percent with file NAME
sub fill_to {
	my ($pct, $name) = @_;
	my $l = (split /\n/, `df -P -k $lfs`)[1];
	my (undef, $total, $used) = split ' ', $l;
	my $want = int($total * $pct / 100) - $used + 8;
	return if $want <= 0;
	system("dd if=/dev/zero of=$name bs=1k count=$want 2>/dev/null");
}

sub send_one {
	my ($tag) = @_;
	my $c = eval { MxSMTP::smtp_connect($mx->port) } or return 'no connection';
	my $r = eval { $c->transaction(to => 'user@example.test',
	    data => "Subject: $tag\r\n\r\nlog disk test\r\n") };
	eval { $c->cmd('QUIT'); $c->disconnect };
	return $r // "no reply: $@";
}

like(send_one('room'), qr/^250 /, 'log disk with room: relayed');
my ($rc, $out, $err) = run($ctl, '-f', $mx->conf, 'status');
like($out, qr/^log disk: \Q$lfs\E \d+% used \(ok; warn 50%, full 80%, log_full_policy tempfail\)$/m,
    'status: the log disk, its marks and policy') or diag $out;

# --- above the high-water mark ------------------------------------------
fill_to(60, "$lfs/filler1");
ok(used_pct() >= 50 && used_pct() < 80, 'the log disk is past log_disk_warn ('
    . used_pct() . '%)');
ok($mx->wait_log(qr/master\[\d+\]: log disk \Q$lfs\E \d+% used: above the high-water mark \(log_disk_warn 50%\)/, 5),
    'the relay logs the high-water mark');
like(send_one('high'), qr/^250 /, '... and mail still flows');
($rc, $out) = run($ctl, '-f', $mx->conf, 'status');
is($rc, 1, 'status: exit 1 (degraded)');
like($out, qr/^degraded: the log disk \(\Q$lfs\E\) is \d+% full: above the high-water mark \(log_disk_warn 50%\)$/m,
    '... saying why');
($rc, $out) = run($ctl, '-f', $mx->conf, 'logs', 'guard');
is($rc, 1, 'logs guard: exit 1 above the mark');
like($out, qr/^log disk \Q$lfs\E \d+% used: above the high-water mark \(warn 50%, full 80%, log_full_policy tempfail\)$/m,
    '... and says so') or diag $out;

# --- full, tempfail ------------------------------------------------------
fill_to(90, "$lfs/filler2");
ok(used_pct() >= 80, 'the log disk is past log_disk_full (' . used_pct() . '%)');
ok($mx->wait_log(qr/log disk \Q$lfs\E \d+% used: full: new mail gets 451 4\.3\.0 until space returns \(log_disk_full 80%, log_full_policy tempfail\)/, 5),
    'the relay logs that new mail waits');
my $r = send_one('full');
like($r, qr/^451 4\.3\.0 /, 'new mail gets 451 4.3.0') or diag $r;
ok($mx->wait_log(qr/NOQUEUE: reject: MAIL from .*: 451 4\.3\.0 the log disk is full; from=</, 3),
    '... and the refusal is logged');
is($sink->count, 2, 'nothing more reached the customer');
($rc, $out) = run($ctl, '-f', $mx->conf, 'status', '--json');
like($out, qr/"log_disk":\{"dir":"\Q$lfs\E","used_percent":\d+,"state":"full","refusing_mail":true\}/,
    'status --json: full, refusing mail');

unlink "$lfs/filler2", "$lfs/filler1";
ok($mx->wait_log(qr/log disk \Q$lfs\E \d+% used: ok; accepting mail again/, 5),
    'space returns: the relay says it accepts mail again');
like(send_one('back'), qr/^250 /, '... and does, without a restart');
is($sink->wait_count(3, 5), 3, '... to the customer');

# --- full, drop-oldest ----------------------------------------------------
$mx->rewrite_config($base . "log_full_policy drop-oldest\n");
$mx->signal('HUP');
ok($mx->wait_log(qr/master\[\d+\]: reloaded /, 5), 'reloaded with log_full_policy drop-oldest');
# old logs: three sealed archives and two rotated files, 300 KiB each,
# with their days; then a filler of today up to ~85 %
my $day = 86400;
my %age = ("$lfs/archive/mxgate/\@400000006a000001.s.sealed" => 200,
    "$lfs/archive/mxgate/\@400000006a000002.s.sealed" => 150,
    "$lfs/archive/mxgate/\@400000006a000003.s.sealed" => 100,
    "$lfs/mxgate/\@400000006a000004.s" => 20,
    "$lfs/mxgate/\@400000006a000005.s" => 10);
for my $f (sort keys %age) {
	system("dd if=/dev/zero of=$f bs=1k count=300 2>/dev/null");
	my $t = time - $age{$f} * $day;
	utime($t, $t, $f);
}
fill_to(85, "$lfs/mxgate/current");
my $pct = used_pct();
ok($pct >= 80 && $pct < 99, "full again ($pct%)");
sleep 2;
like(send_one('drop-oldest'), qr/^250 /, 'drop-oldest: mail still flows while full (below 99%)');
my $audit = $mx->{dir} . '/audit.log';
($rc, $out, $err) = run($ctl, '-f', $mx->conf, 'logs', 'guard');
my @gone = grep { !-e $_ } sort keys %age;
ok(@gone >= 1, 'logs guard deleted ' . scalar(@gone) . ' file(s)') or diag $out . $err;
my @oldest = (sort { $age{$b} <=> $age{$a} } keys %age)[0 .. $#gone];
is_deeply([sort @gone], [sort @oldest], '... the oldest first') or diag $out;
ok(-e "$lfs/mxgate/current", '... never current');
ok(used_pct() < 80, '... until the disk is below log_disk_full (' . used_pct() . '%)');
for my $f (@gone) {
	like($out, qr/^deleted \Q$f\E \(of \d{4}-\d\d-\d\dT[\d:]+Z\): log disk \d+% used, full at 80% \(log_full_policy drop-oldest\)$/m,
	    "... $f printed");
	like($err, qr/audit: .* op=logs\.drop arg=\Q$f\E result=deleted disk=\d+% full=80% prev=/,
	    '... and audited');
}
like($out, qr/^log disk \Q$lfs\E \d+% used: above the high-water mark/m, '... and the verdict after');

# nothing left to delete: the last resort
unlink "$lfs/mxgate/current", keys %age;
fill_to(100, "$lfs/mxgate/current");
$pct = used_pct();
ok($pct >= 99, "a log disk past 99% ($pct%) with nothing old left to delete");
($rc, $out) = run($ctl, '-f', $mx->conf, 'logs', 'guard');
like($out, qr/nothing older is left to delete; at 99% new mail gets 451 4\.3\.0/, 'logs guard says so');
ok($mx->wait_log(qr/log disk \Q$lfs\E \d+% used: full: new mail gets 451 4\.3\.0 until space returns \(log_disk_full 80%, log_full_policy drop-oldest\)/, 5),
    'the relay refuses new mail after all');
like(send_one('last resort'), qr/^451 4\.3\.0 /, '... 451 4.3.0');
my $before = grep { /accepting mail again/ } $mx->log_lines;
unlink "$lfs/mxgate/current";
ok(MxSMTP::wait_until(5, sub { (grep { /accepting mail again/ } $mx->log_lines) > $before }),
    'space returns: the relay says so');
like(send_one('after'), qr/^250 /, '... mail flows');

is(scalar($mx->crashes), 0, 'no process died');
$mx->stop;
$sink->stop;
done_testing();
