#!/usr/bin/perl
# mxgatectl_backup.t — `mxgatectl config export|import`, and two relays
# sharing one configuration as equal MX hosts (docs/HA.md):
#  - export writes the whole configuration of appliance A (its files, the
#    TLS pair generated beside the queue, the queue key) as one file,
#    0600, nothing of it readable; a short passphrase is refused;
#  - import into appliance B refuses a wrong passphrase and a changed
#    byte and changes nothing then; with the right one the candidate holds
#    exactly A's files, the TLS pair and (B having none) the queue key are
#    installed, a second import keeps the queue key; commit applies it;
#    both are audited and the passphrase is in no log;
#  - A and B, run with that configuration, each relay in session; with
#    the customer down each queues what it acknowledged; A stops; every
#    acknowledged message reaches the customer (B's at once, A's when it
#    comes back).
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

need(['root: the relay roles drop to their own users', $> == 0]);

my $ctl = bin('mxgatectl');
my $base = tmpdir();
my ($a, $b) = ("$base/a", "$base/b");
for my $d ($a, $b) { mkdir $d; mkdir "$d/etc"; mkdir "$d/data" }
my $cport = MxSMTP::free_port();	# the customer: down for now
write_file("$a/etc/mailboxes", "alice\@example.test\nbob\@example.test\n");
my $shared = "route example.test 127.0.0.1:$cport\nmax_recipients 77\n";
my $conf_a = $shared . "mailboxes $a/etc/mailboxes\nqueue $a/data/queue\n";
my $mxa = start_mxgate(config => $conf_a, etc => "$a/etc");
my $pass = "$base/pass";
write_file($pass, "correct horse battery staple\n");
write_file("$base/short", "short\n");
write_file("$base/wrong", "correct horse battery stapler\n");
$ENV{MXGATECTL_APPLY} = '/bin/true';
sub ctl_a { run($ctl, '-f', "$a/etc/mxgate.conf", '-a', "$base/audit-a", @_) }
sub ctl_b { run($ctl, '-f', "$b/etc/mxgate.conf", '-a', "$base/audit-b", @_) }

# --- export ---------------------------------------------------------------
my ($rc, $out, $err) = ctl_a('config', 'export', "$base/x", '--passphrase-file',
    "$base/short");
is($rc, 100, 'export: a short passphrase is refused');
ok(!-e "$base/x", '... and nothing is written');
($rc, $out, $err) = ctl_a('config', 'export', "$base/a.conf.enc",
    '--passphrase-file', $pass);
is($rc, 0, 'export') or diag $err;
like($out, qr/: 5 files: 2 of the configuration, the TLS pair, the queue key; encrypted/,
    '... mxgate.conf, mailboxes, the TLS pair and the queue key');
my $bundle = read_file("$base/a.conf.enc") // '';
is(substr($bundle, 0, 8), 'MXGCONF1', '... one file, MXGCONF1');
is((stat "$base/a.conf.enc")[2] & 0777, 0600, '... mode 0600');
ok($bundle !~ /alice|route|PRIVATE|BEGIN/, '... nothing of it in clear text');
($rc) = ctl_a('config', 'export', "$base/a.conf.enc", '--passphrase-file', $pass);
isnt($rc, 0, 'export over an existing file: refused');

# --- import ---------------------------------------------------------------
write_file("$b/etc/mxgate.conf", "hostname mx.example.test\nlisten 127.0.0.1:" .
    MxSMTP::free_port() . "\nroute other.test 127.0.0.1:9\nqueue $b/data/queue\n");
($rc, $out, $err) = ctl_b('config', 'import', "$base/a.conf.enc",
    '--passphrase-file', "$base/wrong");
is($rc, 100, 'import with a wrong passphrase: refused');
like($err, qr/wrong passphrase, or the file was changed: nothing imported/,
    '... and says so');
(undef, $out) = ctl_b('config', 'diff');
like($out, qr/^no candidate/, '... nothing changed');
ok(!-e "$b/data/tls/cert.pem" && !-e "$b/data/queue.key",
    '... no TLS pair, no queue key installed');
my $bad = $bundle;
substr($bad, 100, 1) = chr(ord(substr($bad, 100, 1)) ^ 1);
write_file("$base/bad.enc", $bad);
($rc) = ctl_b('config', 'import', "$base/bad.enc", '--passphrase-file', $pass);
is($rc, 100, 'import of a file with one bit changed: refused');
($rc, $out, $err) = ctl_b('config', 'import', "$base/a.conf.enc",
    '--passphrase-file', $pass);
is($rc, 0, 'import with the passphrase') or diag $err;
like($out, qr/imported 2 configuration file\(s\) into the candidate; queue key: installed\./,
    '... two files into the candidate, the queue key installed');
(undef, $out) = ctl_b('config', 'diff');
like($out, qr/^\+max_recipients 77$/m, 'config diff shows A\'s configuration');
like($out, qr/^\+\+\+ b\/mailboxes$/m, '... and its mailbox list');
my ($keyfile) = grep { -f } glob("$a/data/*.key"), "$a/data/queue.key";
$keyfile //= "$a/data/queue.key";
(my $bkey = $keyfile) =~ s/^\Q$a\E/$b/;
is(read_file($bkey), read_file($keyfile), 'B has A\'s queue key');
is(read_file("$b/data/tls/cert.pem"), read_file("$a/data/tls/cert.pem"),
    'B has A\'s TLS certificate');
is(read_file("$b/data/tls/key.pem"), read_file("$a/data/tls/key.pem"),
    '... and key');
($rc, $out) = ctl_b('config', 'import', "$base/a.conf.enc",
    '--passphrase-file', $pass);
like($out, qr/queue key: the same as here\./, 'a second import keeps the queue key');
($rc, $out, $err) = ctl_b('config', 'commit', '-m', 'as A');
is($rc, 0, 'commit applies it') or diag $out . $err;
is(read_file("$b/etc/mxgate.conf"), read_file("$a/etc/mxgate.conf"),
    'B runs A\'s configuration');
my $audit = (read_file("$base/audit-a") // '') . (read_file("$base/audit-b") // '');
like($audit, qr/op=config\.export arg=\S+a\.conf\.enc result=ok files=5 /,
    'the export is audited');
like($audit, qr/op=config\.import arg=\S+a\.conf\.enc result=refused: does not open /,
    'the refused import too');
like($audit, qr/op=config\.import arg=\S+a\.conf\.enc result=ok files=5 queue_key=installed /,
    'and the import');
unlike($audit . ($mxa->log), qr/horse|battery/, 'the passphrase is in no log');

# --- two equal MX hosts -------------------------------------------------------
# On appliances every path is the same; here B keeps its own queue and
# mailbox file beside its own configuration.
my $conf_b = read_file("$b/etc/mxgate.conf");
$conf_b =~ s/^(?:listen|queue) .*\n//mg;
$conf_b =~ s/\Q$a\E\/etc\//$b\/etc\//g;
my $mxb = start_mxgate(config => $conf_b);
sub send_via {
	my ($mx, $n) = @_;
	my $c = MxSMTP::smtp_connect($mx->port);
	my $r = $c->transaction(to => 'alice@example.test',
	    data => "Subject: ha $n\r\n\r\nbody $n\r\n") // '';
	$c->cmd('QUIT');
	$c->disconnect;
	return $r =~ /^250 / ? 1 : 0;
}
my $acked = 0;
$acked += send_via($mxa, "a$_") + send_via($mxb, "b$_") for 1 .. 3;
is($acked, 6, 'customer down: A and B each acknowledged (queued) 3');
$mxa->stop;
my $sink = start_sink(port => $cport);
($rc) = run($ctl, '-f', $mxb->conf, 'queue', 'flush');
is($sink->wait_count(3, 30), 3, 'A stopped, the customer back: B delivers its 3');
my $mxa2 = start_mxgate(config => $conf_a, etc => "$a/etc", port => $mxa->port);
($rc) = ctl_a('queue', 'flush');
is($sink->wait_count(6, 30), 6, 'A back: its 3 follow; every acknowledged '
    . 'message arrived');
$acked = send_via($mxa2, 'a-live') + send_via($mxb, 'b-live');
is($acked, 2, 'in session through either');
is($sink->wait_count(8, 10), 8, '... both at the customer');
ok(!$mxa2->crashes && !$mxb->crashes, 'no mxgate process crashed');
$mxa2->stop;
$mxb->stop;
$sink->stop;
done_testing();
