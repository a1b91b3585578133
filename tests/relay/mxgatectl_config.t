#!/usr/bin/perl
# mxgatectl_config.t — the configuration lifecycle on the host, against a
# running relay: a candidate beside the running files (show, edit, diff,
# check), commit (numbered revision, the directory becomes a link to it,
# the apply program runs with the changed files and reloads the relay),
# a candidate that fails `mxgate -n` is refused and changes nothing, a
# commit while another change holds the lock is refused, `commit
# --confirm` rolls back by itself when not confirmed (and says so in the
# audit trail) and stays when confirmed, rollback N, history, and every
# change in the hash-chained audit log.
use strict;
use warnings;
use Test::More;
use Fcntl qw(:flock);
use Time::HiRes qw(sleep);
use MxTest;
use MxSMTP;

need(['root: the relay roles drop to their own users', $> == 0]);

my $ctl = bin('mxgatectl');
my $dir = tmpdir();
my $etc = "$dir/etc";
mkdir $etc or die;
my $sport = MxSMTP::free_port();
my $port = MxSMTP::free_port();
write_file("$etc/mailboxes", "alice\@example.test\n");
write_file("$etc/mxgate.conf", <<"CONF");
hostname mx.example.test
listen 127.0.0.1:$port
route example.test 127.0.0.1:$sport
queue $dir/queue
mailboxes $etc/mailboxes
pregreet_wait 0
CONF
my $log = "$dir/mxgate.log";
my $pid = MxSMTP::spawn('mxgate', $log, bin('mxgate'), '-f', "$etc/mxgate.conf");
ok(MxSMTP::wait_until(10, sub { (read_file($log) // '') =~ / ready: / }),
    'the relay runs on the configuration directory') or diag read_file($log);

# the apply program: records its arguments, reloads the relay
my $applied = "$dir/applied";
write_file("$dir/apply", "#!/bin/sh\necho \"\$@\" >>$applied\nkill -HUP $pid\n");
chmod 0755, "$dir/apply";
$ENV{MXGATECTL_APPLY} = "$dir/apply";
my $audit = "$dir/audit.log";
sub ctl { run($ctl, '-f', "$etc/mxgate.conf", '-a', $audit, 'config', @_) }
sub rcpt_reply {
	my $c = smtp_connect($port);
	$c->reply;
	$c->cmd("EHLO client.test");
	$c->cmd("MAIL FROM:<s\@sender.test>");
	my $r = $c->cmd("RCPT TO:<$_[0]>") // '';
	$c->disconnect;
	return $r;
}
my $sink = start_sink(port => $sport);
# an editor as an admin's script would use: appends a line to the file
sub editor {
	my ($line) = @_;
	my $f = "$dir/ed-" . int(rand(1e9));
	write_file($f, "#!/bin/sh\necho '$line' >>\"\$1\"\n");
	chmod 0755, $f;
	return $f;
}
like(rcpt_reply('bob@example.test'), qr/^550 5\.1\.1/, 'before: bob is unknown');

my ($rc, $out) = ctl('show');
is($rc, 0, 'config show');
like($out, qr/^route example\.test /m, '... prints the running mxgate.conf');
($rc, $out) = ctl('diff');
like($out, qr/no candidate/, 'config diff without a candidate says so');

# a change: bob is added to the mailbox list
{
	local $ENV{EDITOR} = editor('bob@example.test');
	($rc, $out) = ctl('edit', 'mailboxes');
}
is($rc, 0, 'config edit mailboxes (EDITOR scripted)');
is(read_file("$etc/mailboxes"), "alice\@example.test\n", 'the running file is untouched');
($rc, $out) = ctl('diff');
like($out, qr/^\+\+\+ b\/mailboxes\n\+bob\@example\.test$/m, 'config diff shows the added line');
($rc, $out) = ctl('check');
is($rc, 0, 'config check: the candidate is valid');
($rc, $out) = ctl('commit', '-m', 'bob joins');
is($rc, 0, 'config commit') or diag $out;
like($out, qr/revision 1 is running \(was 0\)/, '... revision 1 is running');
ok(-l $etc && readlink($etc) =~ /etc\.revisions\/1$/, 'the directory is now a link to revision 1');
is(read_file("$etc/mailboxes"), "alice\@example.test\nbob\@example.test\n", 'the running mailboxes have bob');
like(read_file($applied) // '', qr/^\Q$etc\E mailboxes$/m, 'the apply program got the changed file');
ok(MxSMTP::wait_until(10, sub { rcpt_reply('bob@example.test') =~ /^250/ }),
    'after the commit the relay (reloaded) accepts bob');

# a candidate that does not pass mxgate -n changes nothing
{
	local $ENV{EDITOR} = editor('no_such_directive 1');
	ctl('edit');
}
($rc, $out) = ctl('check');
is($rc, 100, 'config check: an invalid candidate (exit 100)');
like($out, qr/candidate: INVALID/, '... says INVALID');
($rc, $out) = ctl('commit', '-m', 'broken');
is($rc, 100, 'config commit of an invalid candidate is refused (exit 100)');
like($out, qr/refused: the candidate does not pass mxgate -n/, '... and says why');
ok(readlink($etc) =~ /\/1$/, 'revision 1 stays running');
unlike(read_file("$etc/mxgate.conf"), qr/no_such_directive/, 'the running file is unchanged');
($rc) = ctl('discard');
is($rc, 0, 'config discard drops the candidate');

# the log archive key beside the configuration is checked too
{
	local $ENV{EDITOR} = editor('not a key');
	ctl('edit', 'log-archive-key.pem');
}
my $err;
($rc, $out, $err) = ctl('check');
is($rc, 100, 'config check: a log-archive-key.pem that is no key: INVALID');
like($err, qr/log-archive-key\.pem: not an X25519 public key in PEM/, '... and says why');
ctl('discard');
run($ctl, 'logs', 'keygen', "$dir/archive-priv.pem", "$dir/archive-pub.pem");
{
	local $ENV{EDITOR} = "cp $dir/archive-pub.pem";
	ctl('edit', 'log-archive-key.pem');
}
($rc, $out) = ctl('check');
is($rc, 0, '... a real one passes') or diag $out;
ctl('discard');

# one change at a time
{
	local $ENV{EDITOR} = editor('carol@example.test');
	ctl('edit', 'mailboxes');
}
open my $lk, '>>', "$dir/etc.revisions/lock" or die;
flock($lk, LOCK_EX) or die;
($rc, $out, $err) = ctl('commit', '-m', 'while locked');
is($rc, 111, 'a commit while another change holds the lock is refused (exit 111)');
like($err, qr/another configuration change is in progress/, '... and says so');
close $lk;

# commit --confirm without confirm: back by itself
($rc, $out) = ctl('commit', '-m', 'carol, unconfirmed', '--confirm', '2');
is($rc, 0, 'config commit --confirm 2') or diag $out;
like($out, qr/revision 2 must be confirmed within 2 s/, '... waits for a confirm');
like(read_file("$etc/mailboxes"), qr/carol/, 'carol is in the running list');
ok(MxSMTP::wait_until(15, sub { readlink($etc) =~ /\/3$/ }),
    'not confirmed: revision 3 (the content of revision 1) is running by itself');
unlike(read_file("$etc/mailboxes"), qr/carol/, 'carol is gone again');
ok(MxSMTP::wait_until(5, sub { (read_file($audit) // '') =~ /op=config\.confirm-timeout arg=rev=2 result=ok rev=3 from=2/ }),
    'the audit says the confirm timed out and what came back')
    or diag read_file($audit);

# commit --confirm, then confirm: it stays
{
	local $ENV{EDITOR} = editor('dave@example.test');
	ctl('edit', 'mailboxes');
}
($rc, $out) = ctl('commit', '-m', 'dave', '--confirm', '3');
is($rc, 0, 'config commit --confirm 3');
($rc, $out) = ctl('confirm');
is($rc, 0, 'config confirm');
sleep 4.5;
ok(readlink($etc) =~ /\/4$/, 'confirmed: revision 4 stays running after the deadline');
like(read_file("$etc/mailboxes"), qr/dave/, 'dave stays');
($rc, $out) = ctl('confirm');
is($rc, 100, 'a second confirm: nothing to confirm (exit 100)');

# rollback N and history
($rc, $out) = ctl('rollback', '0');
is($rc, 0, 'config rollback 0') or diag $out;
is(read_file("$etc/mailboxes"), "alice\@example.test\n", 'the first configuration is back');
($rc, $out) = ctl('history');
is($rc, 0, 'config history');
like($out, qr/^\*\s+5\s.*rollback to revision 0$/m, 'history: revision 5 is running, a rollback to 0');
like($out, qr/^\s+2\s.*carol, unconfirmed$/m, 'history: the unconfirmed revision is kept');
like($out, qr/^\s+3\s.*confirm timeout: back to revision 1$/m, 'history: the automatic rollback');

($rc, $out) = run($ctl, '-f', "$etc/mxgate.conf", '-a', $audit, 'status');
like($out, qr/^configuration revision: revision 5, \S+ by root: rollback to revision 0$/m,
    'mxgatectl status names the running revision');
($rc, $out) = run($ctl, '-f', "$etc/mxgate.conf", '-a', $audit, 'status', '--json');
like($out, qr/"configuration_revision":5\b/, '... and so does status --json');

# the audit trail: every change, and it verifies
my $a = read_file($audit) // '';
for my $op (qw(config.edit config.commit config.confirm config.rollback config.discard)) {
	like($a, qr/ op=\Q$op\E /, "audit: $op recorded");
}
like($a, qr/op=config\.commit arg=- result=refused: the candidate does not pass/, 'audit: the refused commit');
($rc, $out) = run($ctl, '-f', "$etc/mxgate.conf", '-a', $audit, 'audit', 'verify');
is($rc, 0, 'audit verify: the chain is intact') or diag $out;

ok(kill(0, $pid), 'the relay still runs');
unlike(read_file($log) // '', qr/killed by signal|dumped core/, 'no mxgate process crashed');
MxSMTP::stop_pid($pid);
$sink->stop;
done_testing();
