/*
 * testp11_funcs.h - every entry of the PKCS#11 2.40 CK_FUNCTION_LIST except
 * C_GetFunctionList, as an X-macro: X(name, impl, kind, (parameters),
 * (arguments)).
 *
 * impl  gen: testp11.c generates the forwarding wrapper; own: it has a
 *       hand-written one (the call's output is edited, or an operation is
 *       forwarded before a fault replaces its answer).
 * kind  what a removed token does to the call (testp11_faults.c):
 *       SLOT     names a slot that needs a token: CKR_TOKEN_NOT_PRESENT
 *       SESSION  takes a session handle: CKR_DEVICE_REMOVED
 *       OP       a session call that finishes an operation: as SESSION,
 *                and a "fail" directive forwards it first, so the real
 *                module terminates the operation as an error would
 *       NONE     unaffected (or edited by its own wrapper)
 *
 * Parameter lists follow p11-kit's <p11-kit/pkcs11.h> declarations, with
 * the standard CK_ type names.  The compiler checks each generated wrapper
 * against the function-list member it is stored in (an incompatible
 * pointer is an error under -Werror).
 */
#ifndef TESTP11_FUNCS_H
#define TESTP11_FUNCS_H

#define TESTP11_FUNCTIONS(X) \
	X(C_Initialize, gen, NONE, (void *init_args), (init_args)) \
	X(C_Finalize, gen, NONE, (void *reserved), (reserved)) \
	X(C_GetInfo, gen, NONE, (CK_INFO *info), (info)) \
	X(C_GetSlotList, own, NONE, (unsigned char token_present, CK_SLOT_ID *slot_list, unsigned long *count), (token_present, slot_list, count)) \
	X(C_GetSlotInfo, own, NONE, (CK_SLOT_ID slot_id, CK_SLOT_INFO *info), (slot_id, info)) \
	X(C_GetTokenInfo, own, SLOT, (CK_SLOT_ID slot_id, CK_TOKEN_INFO *info), (slot_id, info)) \
	X(C_GetMechanismList, gen, SLOT, (CK_SLOT_ID slot_id, CK_MECHANISM_TYPE *mechanism_list, unsigned long *count), (slot_id, mechanism_list, count)) \
	X(C_GetMechanismInfo, gen, SLOT, (CK_SLOT_ID slot_id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info), (slot_id, type, info)) \
	X(C_InitToken, gen, SLOT, (CK_SLOT_ID slot_id, unsigned char *pin, unsigned long pin_len, unsigned char *label), (slot_id, pin, pin_len, label)) \
	X(C_InitPIN, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *pin, unsigned long pin_len), (session, pin, pin_len)) \
	X(C_SetPIN, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *old_pin, unsigned long old_len, unsigned char *new_pin, unsigned long new_len), (session, old_pin, old_len, new_pin, new_len)) \
	X(C_OpenSession, gen, SLOT, (CK_SLOT_ID slot_id, CK_FLAGS flags, void *application, CK_NOTIFY notify, CK_SESSION_HANDLE *session), (slot_id, flags, application, notify, session)) \
	X(C_CloseSession, gen, SESSION, (CK_SESSION_HANDLE session), (session)) \
	X(C_CloseAllSessions, gen, NONE, (CK_SLOT_ID slot_id), (slot_id)) \
	X(C_GetSessionInfo, gen, SESSION, (CK_SESSION_HANDLE session, CK_SESSION_INFO *info), (session, info)) \
	X(C_GetOperationState, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *operation_state, unsigned long *operation_state_len), (session, operation_state, operation_state_len)) \
	X(C_SetOperationState, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *operation_state, unsigned long operation_state_len, CK_OBJECT_HANDLE encryption_key, CK_OBJECT_HANDLE authentiation_key), (session, operation_state, operation_state_len, encryption_key, authentiation_key)) \
	X(C_Login, gen, SESSION, (CK_SESSION_HANDLE session, CK_USER_TYPE user_type, unsigned char *pin, unsigned long pin_len), (session, user_type, pin, pin_len)) \
	X(C_Logout, gen, SESSION, (CK_SESSION_HANDLE session), (session)) \
	X(C_CreateObject, gen, SESSION, (CK_SESSION_HANDLE session, CK_ATTRIBUTE *templ, unsigned long count, CK_OBJECT_HANDLE *object), (session, templ, count, object)) \
	X(C_CopyObject, gen, SESSION, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *templ, unsigned long count, CK_OBJECT_HANDLE *new_object), (session, object, templ, count, new_object)) \
	X(C_DestroyObject, gen, SESSION, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object), (session, object)) \
	X(C_GetObjectSize, gen, SESSION, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, unsigned long *size), (session, object, size)) \
	X(C_GetAttributeValue, gen, SESSION, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *templ, unsigned long count), (session, object, templ, count)) \
	X(C_SetAttributeValue, gen, SESSION, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *templ, unsigned long count), (session, object, templ, count)) \
	X(C_FindObjectsInit, gen, SESSION, (CK_SESSION_HANDLE session, CK_ATTRIBUTE *templ, unsigned long count), (session, templ, count)) \
	X(C_FindObjects, gen, SESSION, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE *object, unsigned long max_object_count, unsigned long *object_count), (session, object, max_object_count, object_count)) \
	X(C_FindObjectsFinal, gen, SESSION, (CK_SESSION_HANDLE session), (session)) \
	X(C_EncryptInit, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_Encrypt, own, OP, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *encrypted_data, unsigned long *encrypted_data_len), (session, data, data_len, encrypted_data, encrypted_data_len)) \
	X(C_EncryptUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len), (session, part, part_len, encrypted_part, encrypted_part_len)) \
	X(C_EncryptFinal, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *last_encrypted_part, unsigned long *last_encrypted_part_len), (session, last_encrypted_part, last_encrypted_part_len)) \
	X(C_DecryptInit, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_Decrypt, own, OP, (CK_SESSION_HANDLE session, unsigned char *encrypted_data, unsigned long encrypted_data_len, unsigned char *data, unsigned long *data_len), (session, encrypted_data, encrypted_data_len, data, data_len)) \
	X(C_DecryptUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part, part_len)) \
	X(C_DecryptFinal, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *last_part, unsigned long *last_part_len), (session, last_part, last_part_len)) \
	X(C_DigestInit, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism), (session, mechanism)) \
	X(C_Digest, own, OP, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *digest, unsigned long *digest_len), (session, data, data_len, digest, digest_len)) \
	X(C_DigestUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len), (session, part, part_len)) \
	X(C_DigestKey, gen, SESSION, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key), (session, key)) \
	X(C_DigestFinal, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *digest, unsigned long *digest_len), (session, digest, digest_len)) \
	X(C_SignInit, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_Sign, own, OP, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long *signature_len), (session, data, data_len, signature, signature_len)) \
	X(C_SignUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len), (session, part, part_len)) \
	X(C_SignFinal, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *signature, unsigned long *signature_len), (session, signature, signature_len)) \
	X(C_SignRecoverInit, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_SignRecover, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long *signature_len), (session, data, data_len, signature, signature_len)) \
	X(C_VerifyInit, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_Verify, gen, OP, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long signature_len), (session, data, data_len, signature, signature_len)) \
	X(C_VerifyUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len), (session, part, part_len)) \
	X(C_VerifyFinal, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *signature, unsigned long signature_len), (session, signature, signature_len)) \
	X(C_VerifyRecoverInit, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_VerifyRecover, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *signature, unsigned long signature_len, unsigned char *data, unsigned long *data_len), (session, signature, signature_len, data, data_len)) \
	X(C_DigestEncryptUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len), (session, part, part_len, encrypted_part, encrypted_part_len)) \
	X(C_DecryptDigestUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part, part_len)) \
	X(C_SignEncryptUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len), (session, part, part_len, encrypted_part, encrypted_part_len)) \
	X(C_DecryptVerifyUpdate, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part, part_len)) \
	X(C_GenerateKey, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_ATTRIBUTE *templ, unsigned long count, CK_OBJECT_HANDLE *key), (session, mechanism, templ, count, key)) \
	X(C_GenerateKeyPair, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_ATTRIBUTE *public_key_template, unsigned long public_key_attribute_count, CK_ATTRIBUTE *private_key_template, unsigned long private_key_attribute_count, CK_OBJECT_HANDLE *public_key, CK_OBJECT_HANDLE *private_key), (session, mechanism, public_key_template, public_key_attribute_count, private_key_template, private_key_attribute_count, public_key, private_key)) \
	X(C_WrapKey, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key, unsigned char *wrapped_key, unsigned long *wrapped_key_len), (session, mechanism, wrapping_key, key, wrapped_key, wrapped_key_len)) \
	X(C_UnwrapKey, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE unwrapping_key, unsigned char *wrapped_key, unsigned long wrapped_key_len, CK_ATTRIBUTE *templ, unsigned long attribute_count, CK_OBJECT_HANDLE *key), (session, mechanism, unwrapping_key, wrapped_key, wrapped_key_len, templ, attribute_count, key)) \
	X(C_DeriveKey, gen, SESSION, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE *templ, unsigned long attribute_count, CK_OBJECT_HANDLE *key), (session, mechanism, base_key, templ, attribute_count, key)) \
	X(C_SeedRandom, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *seed, unsigned long seed_len), (session, seed, seed_len)) \
	X(C_GenerateRandom, gen, SESSION, (CK_SESSION_HANDLE session, unsigned char *random_data, unsigned long random_len), (session, random_data, random_len)) \
	X(C_GetFunctionStatus, gen, SESSION, (CK_SESSION_HANDLE session), (session)) \
	X(C_CancelFunction, gen, SESSION, (CK_SESSION_HANDLE session), (session)) \
	X(C_WaitForSlotEvent, gen, NONE, (CK_FLAGS flags, CK_SLOT_ID *slot, void *reserved), (flags, slot, reserved))

#endif /* TESTP11_FUNCS_H */
