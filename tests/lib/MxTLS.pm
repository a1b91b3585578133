# MxTLS.pm — certificates for the STARTTLS integration tests
# (tests/relay/starttls*.t), made with the openssl command at test time:
# a test CA, leaf certificates it signs, and self-signed RSA pairs.
# Nothing here touches the network. Every function dies when openssl
# fails, with its output, so a broken fixture is never mistaken for a
# gateway bug.
package MxTLS;
use strict;
use warnings;
use Exporter 'import';
use MxTest;

our @EXPORT = qw(make_ca make_leaf make_rsa_selfsigned openssl_fp);

sub sh {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	die "openssl fixture failed: $cmd\n$out" if $?;
	return $out;
}

sub ext_file {
	my ($dir, $name, $sans) = @_;
	my $alt = join(',', map { "DNS:$_" } @$sans);
	return write_file("$dir/$name.ext", <<"EXT");
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $alt
EXT
}

# make_ca(DIR, NAME, CN) -> (crt, key): an RSA-2048 root valid 2 days.
sub make_ca {
	my ($dir, $name, $cn) = @_;
	sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/$name.key "
	    . "-out $dir/$name.crt -days 2 -subj '/CN=$cn' -set_serial 1 "
	    . "-addext basicConstraints=critical,CA:TRUE "
	    . "-addext keyUsage=critical,keyCertSign,cRLSign");
	return ("$dir/$name.crt", "$dir/$name.key");
}

# make_leaf(DIR, NAME, CA_CRT, CA_KEY, CN, [SAN...], TYPE) -> (crt, key):
# a server certificate signed by the CA; TYPE 'ec' (P-256, default) or
# 'rsa' (2048).
my $serial = 100;
sub make_leaf {
	my ($dir, $name, $cacrt, $cakey, $cn, $sans, $type) = @_;
	$type //= 'ec';
	my $ext = ext_file($dir, $name, $sans // [$cn]);
	if ($type eq 'rsa') {
		sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
		    . "-out $dir/$name.key");
	} else {
		sh("openssl ecparam -genkey -name prime256v1 -noout "
		    . "-out $dir/$name.key");
	}
	sh("openssl req -new -key $dir/$name.key -subj '/CN=$cn' "
	    . "-out $dir/$name.csr");
	$serial++;
	sh("openssl x509 -req -in $dir/$name.csr -CA $cacrt -CAkey $cakey "
	    . "-set_serial $serial -days 2 -extfile $ext -extensions leaf "
	    . "-out $dir/$name.crt");
	chmod 0600, "$dir/$name.key";
	return ("$dir/$name.crt", "$dir/$name.key");
}

# make_rsa_selfsigned(DIR, NAME, CN) -> (crt, key)
sub make_rsa_selfsigned {
	my ($dir, $name, $cn) = @_;
	sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/$name.key "
	    . "-out $dir/$name.crt -days 2 -subj '/CN=$cn' "
	    . "-addext subjectAltName=DNS:$cn");
	chmod 0600, "$dir/$name.key";
	return ("$dir/$name.crt", "$dir/$name.key");
}

# The SHA-256 fingerprint of a PEM certificate, 64 lower-case hex digits,
# as `openssl x509 -fingerprint -sha256` computes it.
sub openssl_fp {
	my ($crt) = @_;
	my $out = sh("openssl x509 -in $crt -noout -fingerprint -sha256");
	(my $fp = lc $out) =~ s/.*=|[:\s]//g;
	return $fp;
}

1;
