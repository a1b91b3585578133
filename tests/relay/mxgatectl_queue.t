#!/usr/bin/perl
# mxgatectl_queue.t — `mxgatectl queue list|show|hold|release|flush|delete`
# on a queue populated by the unit-test fixture (tests/unit/
# queue_fixture_test.c): output, JSON, exit codes, the body shown only with
# --body, every operation in the audit log, a wrong key refused.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use MxTest;

my $ctl = bin('mxgatectl');
my $fixture = out_dir() . '/tests/unit/queue_fixture_test.t';
plan skip_all => "fixture not built ($fixture)" unless -x $fixture;

my $dir = tmpdir();
my $conf = write_file("$dir/mxgate.conf", <<"CONF");
hostname mx.example.test
listen 127.0.0.1:2525
route example.test 127.0.0.1:2526
queue $dir/queue
CONF

my ($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'list');
is($rc, 0, 'list before any queue exists: exit 0');
is($out, '', '... and nothing listed');

($rc, $out, $err) = run($fixture, '--populate', "$dir/queue");
is($rc, 0, 'fixture populated the queue') or diag $err;
my @ids = split /\n/, $out;
is(scalar @ids, 3, 'three messages');
my ($one, $two, $three) = @ids;
ok(-f "$dir/queue.key", 'key beside the queue directory');

# list
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'list');
is($rc, 0, 'list: exit 0');
like($out, qr/^ID\s+AGE\s+SIZE\s+TRIES\s+STATE\s+SENDER$/m, 'list: header');
like($out, qr/^\Q$one\E\s+2h00m\s+\d+\s+2 queue <alice\@ext\.example>$/m,
    'list: id, age, size, attempts, sender');
like($out, qr/^    <bob\@example\.test> pending \(451 4\.3\.0 try later\)$/m,
    'list: recipient with its last error');
like($out, qr/^\Q$two\E .* <>$/m, 'list: null sender');
like($err, qr/mxgatectl\[\d+\]: audit: uid=\d+ user=\S+ role=\S+ login=\S+ tty=\S+ op=queue-list arg=- result=ok count=3\b.* prev=[0-9a-f]{64}$/m,
    'list: audit line on stderr');

# --json
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'list', '--json');
is($rc, 0, 'list --json: exit 0');
my $j = eval { decode_json($out) };
ok($j && ref $j eq 'ARRAY' && @$j == 3, 'list --json: an array of 3') or diag $out;
my ($m1) = grep { $_->{id} eq $one } @$j;
is($m1->{sender}, 'alice@ext.example', 'json: sender');
is($m1->{attempts}, 2, 'json: attempts');
is($m1->{last_error}, '451 4.3.0 try later', 'json: last error');
is(scalar @{ $m1->{recipients} }, 2, 'json: recipients');
is($m1->{recipients}[1]{address}, 'carol@example.test', 'json: address');
is($m1->{recipients}[1]{state}, 'pending', 'json: state');
ok(!$m1->{held}, 'json: not held');
cmp_ok($m1->{age_seconds}, '>=', 7200, 'json: age');

# show: envelope and headers, never the body unless --body
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'show', $one);
is($rc, 0, 'show: exit 0');
like($out, qr/^sender: <alice\@ext\.example>$/m, 'show: sender');
like($out, qr/^recipient: <carol\@example\.test> pending 4\.3\.0 \(451 4\.3\.0 try later\)$/m,
    'show: recipient state');
like($out, qr/^attempt: \S+ relay=127\.0\.0\.1:2526 \(451 4\.3\.0 try later\)$/m,
    'show: attempt history');
like($out, qr/^Subject: fixture one\r$/m, 'show: headers');
unlike($out, qr/BODY-MARKER-ONE/, 'show: no body');
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'show', lc $one, '--body');
is($rc, 0, 'show --body (lower-case id accepted): exit 0');
like($out, qr/Subject: fixture one\r\n\r\nBODY-MARKER-ONE\r\n\z/, 'show --body: the exact message');
like($err, qr/op=queue-show-body arg=\Q$one\E result=ok/, 'show --body is audited as such');

# hold / release
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'hold', $two);
is($rc, 0, 'hold: exit 0');
is($out, "$two: held\n", 'hold: confirmation');
($rc, $out) = run($ctl, '-f', $conf, 'queue', 'list');
like($out, qr/^\Q$two\E\s+\S+\s+\d+\s+1 held/m, 'list shows held');
($rc, $out) = run($ctl, '-f', $conf, 'queue', 'list', '--json');
($m1) = grep { $_->{id} eq $two } @{ decode_json($out) };
ok($m1->{held}, 'json: held');

# flush
($rc, $out) = run($ctl, '-f', $conf, 'queue', 'flush');
is($rc, 0, 'flush all: exit 0');
is($out, "flushed 2 messages\n", 'flush all skips the held one');
($rc, $out) = run($ctl, '-f', $conf, 'queue', 'flush', $two);
is($out, "flushed 0 messages\n", 'flush of a held message: it stays held');
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'release', $two);
is($rc, 0, 'release: exit 0');
($rc, $out) = run($ctl, '-f', $conf, 'queue', 'flush', $two);
is($out, "flushed 1 message\n", 'flush one after release');
($rc, $out) = run($ctl, '-f', $conf, 'queue', 'list', '--json');
my $now = time;
($m1) = grep { $_->{id} eq $two } @{ decode_json($out) };
ok(!$m1->{held}, 'released');

# delete
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'delete', $three);
is($rc, 0, 'delete: exit 0');
is($out, "$three: deleted\n", 'delete: confirmation');
($rc, $out) = run($ctl, '-f', $conf, 'queue', 'list', '--json');
is(scalar @{ decode_json($out) }, 2, 'two left');
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'show', $three);
is($rc, 100, 'show a deleted message: exit 100');
like($err, qr/no such message/, '... no such message');
($rc, $out, $err) = run($ctl, '-f', $conf, 'queue', 'delete', $three);
is($rc, 100, 'delete twice: exit 100');

# usage and bad input
($rc) = run($ctl, '-f', $conf, 'queue', 'show', 'XYZ');
is($rc, 100, 'bad id: exit 100');
($rc) = run($ctl, '-f', $conf, 'queue', 'explode');
is($rc, 100, 'unknown queue subcommand: exit 100');
($rc, $out, $err) = run($ctl, '-f', $conf, 'frobnicate');
is($rc, 100, 'unknown command: exit 100');
like($err, qr/usage: mxgatectl/, 'usage shown');

# a wrong key is refused, not garbage
my $wrong = write_file("$dir/wrong.key", 'k' x 32);
chmod 0600, $wrong;
($rc, $out, $err) = run($ctl, '-f', $conf, '-k', $wrong, 'queue', 'list');
is($rc, 100, 'wrong key: exit 100');
like($err, qr/not the key the queue was sealed with/, 'wrong key: reason');
is($out, '', 'wrong key: nothing listed');

# the audit log
my $audit = read_file("$dir/audit.log");
ok(defined $audit, 'audit log beside the queue directory');
is((stat "$dir/audit.log")[2] & 0777, 0600, 'audit log mode 0600');
for my $op (qw(queue-list queue-show queue-show-body queue-hold
    queue-release queue-flush queue-delete)) {
	like($audit, qr/ op=\Q$op\E /, "audited: $op");
}
like($audit, qr/op=queue-delete arg=\Q$three\E result=ok prev=[0-9a-f]{64}\n/, 'audit: delete with id and result');
like($audit, qr/op=queue-list arg=- result=error/, 'audit: the refused wrong-key attempt');

# at rest: the body is not in the data file
my $data = read_file("$dir/queue/data.mdb");
unlike($data, qr/BODY-MARKER|fixture one|alice\@ext/, 'data.mdb holds no body, header or address in clear');

# -a moves the audit log
($rc) = run($ctl, '-f', $conf, '-a', "$dir/other-audit.log", 'queue', 'list');
is($rc, 0, '-a FILE: exit 0');
like(read_file("$dir/other-audit.log") // '', qr/op=queue-list/, '-a FILE: audited there');

done_testing();
