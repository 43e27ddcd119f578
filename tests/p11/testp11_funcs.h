/*
 * testp11_funcs.h - every entry of the PKCS#11 2.40 CK_FUNCTION_LIST except
 * C_GetFunctionList, as an X-macro: X(name, (parameters), (arguments)).
 *
 * Parameter lists follow p11-kit's <p11-kit/pkcs11.h> declarations, with
 * the standard CK_ type names.  The compiler checks each generated wrapper
 * against the function-list member it is stored in (an incompatible
 * pointer is an error under -Werror).
 */
#ifndef TESTP11_FUNCS_H
#define TESTP11_FUNCS_H

#define TESTP11_FUNCTIONS(X) \
	X(C_Initialize, (void *init_args), (init_args)) \
	X(C_Finalize, (void *reserved), (reserved)) \
	X(C_GetInfo, (CK_INFO *info), (info)) \
	X(C_GetSlotList, (unsigned char token_present, CK_SLOT_ID *slot_list, unsigned long *count), (token_present, slot_list, count)) \
	X(C_GetSlotInfo, (CK_SLOT_ID slot_id, CK_SLOT_INFO *info), (slot_id, info)) \
	X(C_GetTokenInfo, (CK_SLOT_ID slot_id, CK_TOKEN_INFO *info), (slot_id, info)) \
	X(C_GetMechanismList, (CK_SLOT_ID slot_id, CK_MECHANISM_TYPE *mechanism_list, unsigned long *count), (slot_id, mechanism_list, count)) \
	X(C_GetMechanismInfo, (CK_SLOT_ID slot_id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO *info), (slot_id, type, info)) \
	X(C_InitToken, (CK_SLOT_ID slot_id, unsigned char *pin, unsigned long pin_len, unsigned char *label), (slot_id, pin, pin_len, label)) \
	X(C_InitPIN, (CK_SESSION_HANDLE session, unsigned char *pin, unsigned long pin_len), (session, pin, pin_len)) \
	X(C_SetPIN, (CK_SESSION_HANDLE session, unsigned char *old_pin, unsigned long old_len, unsigned char *new_pin, unsigned long new_len), (session, old_pin, old_len, new_pin, new_len)) \
	X(C_OpenSession, (CK_SLOT_ID slot_id, CK_FLAGS flags, void *application, CK_NOTIFY notify, CK_SESSION_HANDLE *session), (slot_id, flags, application, notify, session)) \
	X(C_CloseSession, (CK_SESSION_HANDLE session), (session)) \
	X(C_CloseAllSessions, (CK_SLOT_ID slot_id), (slot_id)) \
	X(C_GetSessionInfo, (CK_SESSION_HANDLE session, CK_SESSION_INFO *info), (session, info)) \
	X(C_GetOperationState, (CK_SESSION_HANDLE session, unsigned char *operation_state, unsigned long *operation_state_len), (session, operation_state, operation_state_len)) \
	X(C_SetOperationState, (CK_SESSION_HANDLE session, unsigned char *operation_state, unsigned long operation_state_len, CK_OBJECT_HANDLE encryption_key, CK_OBJECT_HANDLE authentiation_key), (session, operation_state, operation_state_len, encryption_key, authentiation_key)) \
	X(C_Login, (CK_SESSION_HANDLE session, CK_USER_TYPE user_type, unsigned char *pin, unsigned long pin_len), (session, user_type, pin, pin_len)) \
	X(C_Logout, (CK_SESSION_HANDLE session), (session)) \
	X(C_CreateObject, (CK_SESSION_HANDLE session, CK_ATTRIBUTE *templ, unsigned long count, CK_OBJECT_HANDLE *object), (session, templ, count, object)) \
	X(C_CopyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *templ, unsigned long count, CK_OBJECT_HANDLE *new_object), (session, object, templ, count, new_object)) \
	X(C_DestroyObject, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object), (session, object)) \
	X(C_GetObjectSize, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, unsigned long *size), (session, object, size)) \
	X(C_GetAttributeValue, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *templ, unsigned long count), (session, object, templ, count)) \
	X(C_SetAttributeValue, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE *templ, unsigned long count), (session, object, templ, count)) \
	X(C_FindObjectsInit, (CK_SESSION_HANDLE session, CK_ATTRIBUTE *templ, unsigned long count), (session, templ, count)) \
	X(C_FindObjects, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE *object, unsigned long max_object_count, unsigned long *object_count), (session, object, max_object_count, object_count)) \
	X(C_FindObjectsFinal, (CK_SESSION_HANDLE session), (session)) \
	X(C_EncryptInit, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_Encrypt, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *encrypted_data, unsigned long *encrypted_data_len), (session, data, data_len, encrypted_data, encrypted_data_len)) \
	X(C_EncryptUpdate, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len), (session, part, part_len, encrypted_part, encrypted_part_len)) \
	X(C_EncryptFinal, (CK_SESSION_HANDLE session, unsigned char *last_encrypted_part, unsigned long *last_encrypted_part_len), (session, last_encrypted_part, last_encrypted_part_len)) \
	X(C_DecryptInit, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_Decrypt, (CK_SESSION_HANDLE session, unsigned char *encrypted_data, unsigned long encrypted_data_len, unsigned char *data, unsigned long *data_len), (session, encrypted_data, encrypted_data_len, data, data_len)) \
	X(C_DecryptUpdate, (CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part, part_len)) \
	X(C_DecryptFinal, (CK_SESSION_HANDLE session, unsigned char *last_part, unsigned long *last_part_len), (session, last_part, last_part_len)) \
	X(C_DigestInit, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism), (session, mechanism)) \
	X(C_Digest, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *digest, unsigned long *digest_len), (session, data, data_len, digest, digest_len)) \
	X(C_DigestUpdate, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len), (session, part, part_len)) \
	X(C_DigestKey, (CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key), (session, key)) \
	X(C_DigestFinal, (CK_SESSION_HANDLE session, unsigned char *digest, unsigned long *digest_len), (session, digest, digest_len)) \
	X(C_SignInit, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_Sign, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long *signature_len), (session, data, data_len, signature, signature_len)) \
	X(C_SignUpdate, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len), (session, part, part_len)) \
	X(C_SignFinal, (CK_SESSION_HANDLE session, unsigned char *signature, unsigned long *signature_len), (session, signature, signature_len)) \
	X(C_SignRecoverInit, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_SignRecover, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long *signature_len), (session, data, data_len, signature, signature_len)) \
	X(C_VerifyInit, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_Verify, (CK_SESSION_HANDLE session, unsigned char *data, unsigned long data_len, unsigned char *signature, unsigned long signature_len), (session, data, data_len, signature, signature_len)) \
	X(C_VerifyUpdate, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len), (session, part, part_len)) \
	X(C_VerifyFinal, (CK_SESSION_HANDLE session, unsigned char *signature, unsigned long signature_len), (session, signature, signature_len)) \
	X(C_VerifyRecoverInit, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE key), (session, mechanism, key)) \
	X(C_VerifyRecover, (CK_SESSION_HANDLE session, unsigned char *signature, unsigned long signature_len, unsigned char *data, unsigned long *data_len), (session, signature, signature_len, data, data_len)) \
	X(C_DigestEncryptUpdate, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len), (session, part, part_len, encrypted_part, encrypted_part_len)) \
	X(C_DecryptDigestUpdate, (CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part, part_len)) \
	X(C_SignEncryptUpdate, (CK_SESSION_HANDLE session, unsigned char *part, unsigned long part_len, unsigned char *encrypted_part, unsigned long *encrypted_part_len), (session, part, part_len, encrypted_part, encrypted_part_len)) \
	X(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE session, unsigned char *encrypted_part, unsigned long encrypted_part_len, unsigned char *part, unsigned long *part_len), (session, encrypted_part, encrypted_part_len, part, part_len)) \
	X(C_GenerateKey, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_ATTRIBUTE *templ, unsigned long count, CK_OBJECT_HANDLE *key), (session, mechanism, templ, count, key)) \
	X(C_GenerateKeyPair, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_ATTRIBUTE *public_key_template, unsigned long public_key_attribute_count, CK_ATTRIBUTE *private_key_template, unsigned long private_key_attribute_count, CK_OBJECT_HANDLE *public_key, CK_OBJECT_HANDLE *private_key), (session, mechanism, public_key_template, public_key_attribute_count, private_key_template, private_key_attribute_count, public_key, private_key)) \
	X(C_WrapKey, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key, unsigned char *wrapped_key, unsigned long *wrapped_key_len), (session, mechanism, wrapping_key, key, wrapped_key, wrapped_key_len)) \
	X(C_UnwrapKey, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE unwrapping_key, unsigned char *wrapped_key, unsigned long wrapped_key_len, CK_ATTRIBUTE *templ, unsigned long attribute_count, CK_OBJECT_HANDLE *key), (session, mechanism, unwrapping_key, wrapped_key, wrapped_key_len, templ, attribute_count, key)) \
	X(C_DeriveKey, (CK_SESSION_HANDLE session, CK_MECHANISM *mechanism, CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE *templ, unsigned long attribute_count, CK_OBJECT_HANDLE *key), (session, mechanism, base_key, templ, attribute_count, key)) \
	X(C_SeedRandom, (CK_SESSION_HANDLE session, unsigned char *seed, unsigned long seed_len), (session, seed, seed_len)) \
	X(C_GenerateRandom, (CK_SESSION_HANDLE session, unsigned char *random_data, unsigned long random_len), (session, random_data, random_len)) \
	X(C_GetFunctionStatus, (CK_SESSION_HANDLE session), (session)) \
	X(C_CancelFunction, (CK_SESSION_HANDLE session), (session)) \
	X(C_WaitForSlotEvent, (CK_FLAGS flags, CK_SLOT_ID *slot, void *reserved), (flags, slot, reserved))

#endif /* TESTP11_FUNCS_H */
