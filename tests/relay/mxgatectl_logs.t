#!/usr/bin/perl
# mxgatectl_logs.t — `mxgatectl logs search` and `logs export` over a log
# directory laid out as the appliance keeps it (DIR/mxgate/ with s6-log's
# rotated @TAI64N.s files and current), filled by a live relay:
#  - search by queue id, by Message-ID (with or without brackets) and by
#    address (any case) prints every line of each matching message, and
#    only theirs, in order across the files; a refused recipient's NOQUEUE
#    line is found by its address; --since/--until cut by time stamp;
#    nothing found exits 1; a bad time exits 100; each search is audited;
#  - with --key the sealed archives are searched too (first: they are the
#    oldest), without it or with another key they are not;
#  - export copies the logs (the window's files only) and the whole audit
#    trail with a SHA256SUMS manifest that sha256sum -c accepts, refuses an
#    existing export directory's parent that is missing, and is audited.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

need(['root: the relay roles drop to their own users', $> == 0]);

my $ctl = bin('mxgatectl');
my $sink = start_sink();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:" .
    $sink->port . "\n");
my $dir = tmpdir();
my $audit = "$dir/audit.log";
sub ctl { run($ctl, '-f', $mx->conf, '-a', $audit, @_) }

sub send_one {
	my (%o) = @_;
	my $c = MxSMTP::smtp_connect($mx->port);
	my $r = $c->transaction(%o);
	$c->cmd('QUIT');
	$c->disconnect;
	return $r // '';
}
my $ra = send_one(to => 'alice@example.test',
    data => "Message-ID: <one\@sender.test>\r\nSubject: a\r\n\r\nx\r\n");
my $rb = send_one(to => 'bob@example.test',
    data => "Message-ID: <two\@sender.test>\r\nSubject: b\r\n\r\nx\r\n");
my ($qa) = $ra =~ /queued as ([0-9A-F]+)/;
my ($qb) = $rb =~ /queued as ([0-9A-F]+)/;
ok($qa && $qb, 'two messages relayed') or diag "$ra / $rb";
$qa //= 'NONE'; $qb //= 'NONE';
my $c = MxSMTP::smtp_connect($mx->port);
$c->hello;
$c->cmd('MAIL FROM:<carol@sender.test>');
like($c->cmd('RCPT TO:<dave@elsewhere.test>') // '', qr/^554 /,
    'a recipient refused (no route)');
$c->cmd('QUIT');
$c->disconnect;
ok($mx->wait_log(qr/\Q$qb\E: removed/, 10) &&
    $mx->wait_log(qr/NOQUEUE: reject: RCPT .*dave\@elsewhere\.test/, 5),
    'the relay logged them');

# the appliance's layout: an older rotated file, then current
my $logs = "$dir/log";
mkdir $logs; mkdir "$logs/mxgate";
my $old = "2026-01-02T03:04:05+00:00 mx mxgate/smtpd[1]: 0123456789ABCDEF01: " .
    "client=unknown[192.0.2.1]\n" .
    "2026-01-02T03:04:06+00:00 mx mxgate/qmgr[1]: 0123456789ABCDEF01: " .
    "from=<eve\@sender.test>, size=10, nrcpt=1 (in-session)\n" .
    "2026-01-02T03:04:07+00:00 mx mxgate/smtp[1]: 0123456789ABCDEF01: " .
    "to=<Alice\@Example.test>, relay=x, status=sent (250 ok)\n";
write_file("$logs/mxgate/\@400000006950000000000000.s", $old);
utime(1767323047, 1767323047, "$logs/mxgate/\@400000006950000000000000.s");
write_file("$logs/mxgate/current", $mx->log);

sub lines_of { my ($t) = @_; [ grep { length } split /\n/, $t // '' ] }

my ($rc, $out, $err) = ctl('logs', 'search', $qa, '--dir', $logs);
is($rc, 0, 'search by queue id');
my @l = @{ lines_of($out) };
ok(@l >= 4 && !grep({ !/\Q$qa\E: / } @l), "... only lines of $qa (" .
    scalar(@l) . ')') or diag $out;
like($out, qr/\Q$qa\E: client=.*\n(?:.*\n)*.*\Q$qa\E: message-id=<one\@sender\.test>\n(?:.*\n)*.*\Q$qa\E: removed\n/,
    '... from client= to removed, in order');

my ($rc2, $out2) = ctl('logs', 'search', '<one@sender.test>', '--dir', $logs);
is($rc2, 0, 'search by Message-ID');
is($out2, $out, '... the same lines as by its queue id');
($rc2, $out2) = ctl('logs', 'search', 'one@sender.test', '--dir', $logs);
is($out2, $out, '... without brackets too (taken as address and Message-ID)');

($rc, $out) = ctl('logs', 'search', 'ALICE@example.TEST', '--dir', $logs);
is($rc, 0, 'search by address, any case');
like($out, qr/\A2026-01-02T03:04:05\+00:00 .*0123456789ABCDEF01: client=/,
    '... the old message in the rotated file comes first');
like($out, qr/\Q$qa\E: removed/, '... then the relayed one');
unlike($out, qr/\Q$qb\E/, '... and nothing of the other message');

($rc, $out) = ctl('logs', 'search', 'dave@elsewhere.test', '--dir', $logs);
is($rc, 0, 'search for a refused recipient');
like($out, qr/NOQUEUE: reject: RCPT .*<dave\@elsewhere\.test>/,
    '... its NOQUEUE line');

($rc, $out) = ctl('logs', 'search', 'alice@example.test', '--since',
    '2026-06', '--dir', $logs);
is($rc, 100, 'a bad time: exit 100');
($rc, $out) = ctl('logs', 'search', 'alice@example.test', '--since',
    '2026-06-01', '--dir', $logs);
unlike($out, qr/0123456789ABCDEF01/, '--since leaves the old message out');
like($out, qr/\Q$qa\E: removed/, '... not the new one');
($rc, $out) = ctl('logs', 'search', 'alice@example.test', '--until',
    '2026-01-02', '--dir', $logs);
like($out, qr/0123456789ABCDEF01: to=<Alice/, '--until 2026-01-02: the old one');
unlike($out, qr/\Q$qa\E/, '... only');
($rc, $out, $err) = ctl('logs', 'search', 'nobody@example.test', '--dir', $logs);
is($rc, 1, 'nothing found: exit 1');
like($err, qr/nothing about nobody\@example\.test/, '... and says so');
(undef, $out) = ctl('audit', 'show');
like($out, qr/op=logs\.search arg=ALICE\@example\.TEST result=ok messages=2 /,
    'each search is in the audit trail, with what it found');

# sealed archives: the old file sealed away, its clear text gone
mkdir "$logs/archive"; mkdir "$logs/archive/mxgate";
run($ctl, 'logs', 'keygen', "$dir/priv.pem", "$dir/pub.pem");
my $arch = "$logs/archive/mxgate/\@400000006950000000000000.s.sealed";
($rc) = run($ctl, 'logs', 'seal', "$logs/mxgate/\@400000006950000000000000.s",
    $arch, '--key', "$dir/pub.pem");
is($rc, 0, 'the old log sealed into archive/mxgate/');
rename "$logs/mxgate/\@400000006950000000000000.s", "$dir/old.s";
($rc, $out) = ctl('logs', 'search', 'alice@example.test', '--dir', $logs);
unlike($out, qr/0123456789ABCDEF01/, 'without --key the archive is not searched');
($rc, $out, $err) = ctl('logs', 'search', 'alice@example.test', '--dir', $logs,
    '--key', "$dir/priv.pem");
is($rc, 0, 'search --key');
like($out, qr/\A2026-01-02T03:04:05\+00:00 .*0123456789ABCDEF01: client=.*\n.*0123456789ABCDEF01: from=.*\n.*0123456789ABCDEF01: to=<Alice/,
    '... the sealed message\'s lines come first');
like($out, qr/\Q$qa\E: removed/, '... then the clear ones');
like($err, qr/1 sealed archive\(s\) searched/, '... and it says how many archives');
run($ctl, 'logs', 'keygen', "$dir/other.pem", "$dir/other.pub");
($rc, $out, $err) = ctl('logs', 'search', 'alice@example.test', '--dir', $logs,
    '--key', "$dir/other.pem");
like($err, qr/does not open with this key/, 'another key: the archive does not open, and says so');
like($out, qr/\Q$qa\E: removed/, '... the clear logs are still searched');
rename "$dir/old.s", "$logs/mxgate/\@400000006950000000000000.s";
unlink $arch;

# export
my $dest = "$dir/stick";
mkdir $dest;
($rc, $out, $err) = ctl('logs', 'export', $dest, '--since', '2026-06-01',
    '--dir', $logs);
is($rc, 0, 'logs export') or diag $err;
my ($exp) = glob("$dest/mxgate-logs-*");
ok($exp && -d $exp, "the export directory: " . ($exp // 'none'));
$exp //= "$dest/none";
ok(-f "$exp/log/mxgate/current" && -f "$exp/audit.log",
    '... the log and the audit trail');
ok(!-e "$exp/log/mxgate/\@400000006950000000000000.s",
    '... not the file wholly before --since');
is(read_file("$exp/log/mxgate/current"), read_file("$logs/mxgate/current"),
    '... copied byte for byte');
my ($src, $sums) = run_timeout(30, 'sh', '-c', "cd '$exp' && sha256sum -c SHA256SUMS");
is($src, 0, 'sha256sum -c SHA256SUMS accepts the manifest') or diag $sums;
like($sums, qr/^audit\.log: OK$/m, '... which covers the audit trail');
is((stat "$exp/audit.log")[2] & 0777, 0600, 'exported files are 0600');
($rc) = ctl('logs', 'export', "$dir/missing", '--dir', $logs);
is($rc, 100, 'export to a missing destination: exit 100');
(undef, $out) = ctl('audit', 'show');
like($out, qr/op=logs\.export arg=\Q$dest\E result=ok files=2 /,
    'the export is audited with its count');
$mx->stop;
$sink->stop;
done_testing();
