// SPDX-License-Identifier: MIT
/*
 * Link-time stand-ins for the GnuTLS functions libmicrohttpd.a refers to, for sluice-static
 * (cmake/sluice-static.cmake). Debian builds libmicrohttpd with HTTPS support, and GnuTLS cannot
 * be linked statically from Debian's packages: it needs a libp11-kit.a that is not shipped, and
 * calls getpwuid_r (NSS), which the static build refuses. sluice never turns on MHD's TLS (the
 * admin endpoint starts its daemon without MHD_USE_TLS, src/admin/admin.c), so none of these is
 * ever reached past gnutls_global_init(), which MHD's constructor calls: that one succeeds and
 * does nothing; every other call fails cleanly with GNUTLS_E_UNIMPLEMENTED_FEATURE or a null or
 * unknown result, and nothing is allocated. TLS on the admin endpoint is not available at all.
 */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>

#define NO_TLS GNUTLS_E_UNIMPLEMENTED_FEATURE

/* Called from MHD_init() (a constructor) in every process: succeeds, holds nothing. */
int
gnutls_global_init(void)
{
	return 0;
}

void
gnutls_global_deinit(void)
{
}

/* Only a PSK callback would call it; a variable in GnuTLS's API. */
gnutls_alloc_function gnutls_malloc = malloc;

const char *
gnutls_strerror(int error)
{
	(void)error;
	return "TLS is not built into sluice-static";
}

int
gnutls_init(gnutls_session_t *session, unsigned int flags)
{
	(void)flags;
	*session = NULL;
	return NO_TLS;
}

void
gnutls_deinit(gnutls_session_t session)
{
	(void)session;
}

int
gnutls_priority_init(gnutls_priority_t *priority_cache, const char *priorities,
                     const char **err_pos)
{
	(void)priorities;
	*priority_cache = NULL;
	if (err_pos != NULL)
		*err_pos = NULL;
	return NO_TLS;
}

void
gnutls_priority_deinit(gnutls_priority_t priority_cache)
{
	(void)priority_cache;
}

int
gnutls_priority_set(gnutls_session_t session, gnutls_priority_t priority)
{
	(void)session;
	(void)priority;
	return NO_TLS;
}

int
gnutls_certificate_allocate_credentials(gnutls_certificate_credentials_t *res)
{
	*res = NULL;
	return NO_TLS;
}

void
gnutls_certificate_free_credentials(gnutls_certificate_credentials_t sc)
{
	(void)sc;
}

void
gnutls_certificate_server_set_request(gnutls_session_t session, gnutls_certificate_request_t req)
{
	(void)session;
	(void)req;
}

void
gnutls_certificate_set_dh_params(gnutls_certificate_credentials_t res, gnutls_dh_params_t dh)
{
	(void)res;
	(void)dh;
}

void
gnutls_certificate_set_retrieve_function2(gnutls_certificate_credentials_t cred,
                                          gnutls_certificate_retrieve_function2 *func)
{
	(void)cred;
	(void)func;
}

void
gnutls_certificate_set_retrieve_function3(gnutls_certificate_credentials_t cred,
                                          gnutls_certificate_retrieve_function3 *func)
{
	(void)cred;
	(void)func;
}

int
gnutls_certificate_set_x509_key_mem(gnutls_certificate_credentials_t res,
                                    const gnutls_datum_t *cert, const gnutls_datum_t *key,
                                    gnutls_x509_crt_fmt_t type)
{
	(void)res;
	(void)cert;
	(void)key;
	(void)type;
	return NO_TLS;
}

int
gnutls_certificate_set_x509_key_mem2(gnutls_certificate_credentials_t res,
                                     const gnutls_datum_t *cert, const gnutls_datum_t *key,
                                     gnutls_x509_crt_fmt_t type, const char *pass,
                                     unsigned int flags)
{
	(void)pass;
	(void)flags;
	return gnutls_certificate_set_x509_key_mem(res, cert, key, type);
}

int
gnutls_certificate_set_x509_trust_mem(gnutls_certificate_credentials_t res,
                                      const gnutls_datum_t *ca, gnutls_x509_crt_fmt_t type)
{
	(void)res;
	(void)ca;
	(void)type;
	return NO_TLS;
}

int
gnutls_dh_params_init(gnutls_dh_params_t *dh_params)
{
	*dh_params = NULL;
	return NO_TLS;
}

void
gnutls_dh_params_deinit(gnutls_dh_params_t dh_params)
{
	(void)dh_params;
}

int
gnutls_dh_params_import_pkcs3(gnutls_dh_params_t params, const gnutls_datum_t *pkcs3_params,
                              gnutls_x509_crt_fmt_t format)
{
	(void)params;
	(void)pkcs3_params;
	(void)format;
	return NO_TLS;
}

int
gnutls_psk_allocate_server_credentials(gnutls_psk_server_credentials_t *sc)
{
	*sc = NULL;
	return NO_TLS;
}

void
gnutls_psk_free_server_credentials(gnutls_psk_server_credentials_t sc)
{
	(void)sc;
}

void
gnutls_psk_set_server_credentials_function(gnutls_psk_server_credentials_t cred,
                                           gnutls_psk_server_credentials_function *func)
{
	(void)cred;
	(void)func;
}

int
gnutls_credentials_set(gnutls_session_t session, gnutls_credentials_type_t type, void *cred)
{
	(void)session;
	(void)type;
	(void)cred;
	return NO_TLS;
}

int
gnutls_alpn_set_protocols(gnutls_session_t session, const gnutls_datum_t *protocols,
                          unsigned protocols_size, unsigned flags)
{
	(void)session;
	(void)protocols;
	(void)protocols_size;
	(void)flags;
	return NO_TLS;
}

void
gnutls_transport_set_int2(gnutls_session_t session, int r, int s)
{
	(void)session;
	(void)r;
	(void)s;
}

void
gnutls_session_set_ptr(gnutls_session_t session, void *ptr)
{
	(void)session;
	(void)ptr;
}

void *
gnutls_session_get_ptr(gnutls_session_t session)
{
	(void)session;
	return NULL;
}

int
gnutls_handshake(gnutls_session_t session)
{
	(void)session;
	return NO_TLS;
}

int
gnutls_bye(gnutls_session_t session, gnutls_close_request_t how)
{
	(void)session;
	(void)how;
	return NO_TLS;
}

ssize_t
gnutls_record_recv(gnutls_session_t session, void *data, size_t data_size)
{
	(void)session;
	(void)data;
	(void)data_size;
	return NO_TLS;
}

ssize_t
gnutls_record_send(gnutls_session_t session, const void *data, size_t data_size)
{
	(void)session;
	(void)data;
	(void)data_size;
	return NO_TLS;
}

size_t
gnutls_record_check_pending(gnutls_session_t session)
{
	(void)session;
	return 0;
}

int
gnutls_record_get_direction(gnutls_session_t session)
{
	(void)session;
	return 0;
}

gnutls_cipher_algorithm_t
gnutls_cipher_get(gnutls_session_t session)
{
	(void)session;
	return GNUTLS_CIPHER_UNKNOWN;
}

gnutls_protocol_t
gnutls_protocol_get_version(gnutls_session_t session)
{
	(void)session;
	return GNUTLS_VERSION_UNKNOWN;
}
